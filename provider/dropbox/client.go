package dropbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	sdk "github.com/dropbox/dropbox-sdk-go-unofficial/v6/dropbox"
	"github.com/dropbox/dropbox-sdk-go-unofficial/v6/dropbox/files"
	"github.com/dropbox/dropbox-sdk-go-unofficial/v6/dropbox/users"
	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
)

// The Dropbox SDK (dropbox-sdk-go-unofficial/v6) builds every request and
// decodes every result; this file is the part of the driver under it. The
// SDK takes our *http.Client (Config.Client) and our hosts
// (Config.URLGenerator), so tests drive it against internal/fakes/dropbox.
// What stays hand-written, and why:
//
//   - Error decoding. The SDK turns a non-2xx answer into
//     SDKInternalError{StatusCode, Content} and auth.ParseError then drops
//     the response headers, so a 429's Retry-After is lost (the body's
//     retry_after is not always there: rclone saw 429s with an empty body,
//     which ParseError turns into a bare JSON syntax error); a 5xx becomes
//     auth.ServerError whose StatusCode ParseError never sets. So the
//     transport below answers every non-2xx itself, as an *apiError or a
//     *provider.RateLimitError, before the SDK sees it. For 409s that also
//     keeps one error path (error_summary) for all routes instead of one
//     typed error per route.
//   - Retries. The SDK's retry.Policy is left off: provider.RetryPolicy is
//     the driver's (WithoutRetries, MaxRetryWait, the engine's
//     RateLimitError), and it resends each call with a fresh body.
//   - Authorization. The transport sets the bearer token itself, so it
//     knows which token the server called expired and can hand it back to
//     the token source once (oauth2.Transport cannot).
//   - The Dropbox-API-Arg header. The SDK sends the JSON argument as is,
//     with raw UTF-8 (its own HTTPHeaderSafeJSON is not used by
//     newHTTPRequest, and it would not write surrogate pairs for runes
//     above U+FFFF), while Dropbox wants ASCII: the transport escapes it.
//     Without that, the unicode key of providertest's OddKeys fails with a
//     400 from the fake, which refuses raw UTF-8 as Dropbox does.

// apiError is an error answer of the Dropbox API.
type apiError struct {
	Status  int
	Summary string          `json:"error_summary"`
	Detail  json.RawMessage `json:"error"`
	// CorrectOffset is set for incorrect_offset.
	CorrectOffset int64
}

func (e *apiError) Error() string {
	return fmt.Sprintf("dropbox: HTTP %d: %s", e.Status, e.Summary)
}

func (e *apiError) has(s string) bool { return strings.Contains(e.Summary, s) }

// mapErr marks an API error with the provider sentinel it stands for.
func mapErr(err error, what string) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.has("content_hash_mismatch"):
		// The server refused a body whose content_hash we sent with it.
		return provider.Wrap(provider.ErrChecksum, err, what)
	case ae.Status == http.StatusUnauthorized:
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	case ae.Status == http.StatusForbidden, ae.has("no_write_permission"), ae.has("insufficient_space"):
		return provider.Wrap(provider.ErrPermission, err, what)
	case ae.has("not_found"), ae.has("not_folder"), ae.has("not_file"):
		return provider.Wrap(provider.ErrNotFound, err, what)
	case ae.has("conflict"):
		return provider.Wrap(provider.ErrExists, err, what)
	case ae.Status == http.StatusBadRequest, ae.Status == http.StatusRequestedRangeNotSatisfiable, ae.has("malformed_path"):
		return provider.Wrap(provider.ErrInvalid, err, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// expirer is what oauth's token sources add to oauth2.TokenSource: a way to
// say the provider rejected a token the source still thought valid.
type expirer interface{ Expire(accessToken string) }

// newClients returns the SDK clients over hc, sending the routes of the host
// type "api" or "content" to the matching base URL.
func newClients(api, content string, hc *http.Client) (files.ContextClient, users.ContextClient) {
	cfg := sdk.Config{
		Client: hc,
		URLGenerator: func(hostType, namespace, route string) string {
			base := api
			if hostType == "content" {
				base = content
			}
			return base + "/2/" + namespace + "/" + route
		},
	}
	return files.NewContext(cfg), users.NewContext(cfg)
}

// transport is the http.RoundTripper the SDK's client sends through: it
// authorizes each request, refreshes an expired token once, escapes the
// Dropbox-API-Arg header and turns every answer but a 2xx into an error
// (see the comment at the top of this file).
type transport struct {
	base   http.RoundTripper
	tokens oauth2.TokenSource
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := rewindable(req)
	if err != nil {
		return nil, err
	}
	refreshed := false
	for {
		r := req.Clone(req.Context())
		if r.Body, err = body(); err != nil {
			return nil, err
		}
		if arg := r.Header.Get("Dropbox-API-Arg"); arg != "" {
			r.Header.Set("Dropbox-API-Arg", asciiJSON([]byte(arg)))
		}
		tok, err := t.tokens.Token()
		if err != nil {
			// A refused refresh is already ErrUnauthenticated naming the
			// account.
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 {
			return resp, nil
		}
		ae := readErr(resp)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			return nil, &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(resp.Header), Err: ae}
		case resp.StatusCode == http.StatusConflict && ae.has("too_many_write_operations"):
			// Documented as "please retry": throttling by another name.
			return nil, &provider.RateLimitError{Err: ae}
		case resp.StatusCode == http.StatusUnauthorized && ae.has("expired_access_token") && !refreshed:
			ex, ok := t.tokens.(expirer)
			if !ok {
				return nil, ae
			}
			refreshed = true
			ex.Expire(tok.AccessToken)
			continue
		}
		return nil, ae
	}
}

// rewindable returns a function giving req's body afresh, so a resend
// after a token refresh has it. Upload bodies come with GetBody (the SDK
// builds them from the driver's *bytes.Reader); an RPC's JSON argument is
// small and read once.
func rewindable(req *http.Request) (func() (io.ReadCloser, error), error) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return func() (io.ReadCloser, error) { return http.NoBody, nil }, nil
	case req.GetBody != nil:
		_ = req.Body.Close()
		return req.GetBody, nil
	}
	defer req.Body.Close()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, nil
}

func readErr(resp *http.Response) *apiError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ae := &apiError{Status: resp.StatusCode}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(b, ae) == nil {
		var lf struct {
			LookupFailed struct {
				CorrectOffset int64 `json:"correct_offset"`
			} `json:"lookup_failed"`
			CorrectOffset int64 `json:"correct_offset"`
		}
		if json.Unmarshal(ae.Detail, &lf) == nil {
			ae.CorrectOffset = max(lf.CorrectOffset, lf.LookupFailed.CorrectOffset)
		}
		return ae
	}
	ae.Summary = strings.TrimSpace(string(b)) // 400s are plain text
	if len(ae.Summary) > 300 {
		ae.Summary = ae.Summary[:300]
	}
	return ae
}

// call runs one SDK call under the driver's retry policy
// (provider.RetryPolicy, so provider.WithoutRetries makes it one try): 429
// (honouring Retry-After up to MaxRetryWait; a longer wait is returned at
// once), too_many_write_operations and 5xx are retried. f is called again
// on each try, so it must build its request body afresh. The error is an
// *apiError, a *provider.RateLimitError wrapping one, the context's error,
// or a transport or decoding error.
func (s *Storage) call(ctx context.Context, f func(context.Context) error) error {
	policy := provider.RetryPolicy{Attempts: s.opts.MaxRetries + 1, MaxWait: s.opts.MaxRetryWait}
	err := policy.Do(ctx, s.retryable, func() error { return f(ctx) })
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	return nil
}

// retryable: 429s whose Retry-After the driver is willing to wait, and
// server errors.
func (s *Storage) retryable(err error) bool {
	if ra, ok := provider.RetryAfter(err); ok {
		return ra <= s.opts.MaxRetryWait
	}
	var ae *apiError
	return errors.As(err, &ae) && ae.Status >= 500
}

// asciiJSON escapes non-ASCII characters: HTTP header values must be ASCII.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	for _, r := range string(b) {
		switch {
		case r < 0x80:
			sb.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			r -= 0x10000
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xD800+(r>>10)&0x3FF, 0xDC00+r&0x3FF)
		}
	}
	return sb.String()
}

// staticToken reads credentialsData (oauth2.Token JSON) when the caller gave
// no TokenSource: it works until the access token expires.
func staticToken(cd string) (oauth2.TokenSource, error) {
	var tok oauth2.Token
	if cd == "" || json.Unmarshal([]byte(cd), &tok) != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("%w: dropbox needs Config.TokenSource or an OAuth token in CredentialsData", provider.ErrUnauthenticated)
	}
	return oauth2.StaticTokenSource(&tok), nil
}
