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

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
)

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

var contentRoutes = map[string]bool{"files/upload": true, "files/download": true,
	"files/upload_session/start": true, "files/upload_session/append_v2": true, "files/upload_session/finish": true}

// call is one API request. body is resent on each retry.
type call struct {
	host   string // api or content base URL (the same host in tests)
	route  string
	arg    any // JSON body (RPC) or Dropbox-API-Arg header (content)
	body   []byte
	rangeH string
}

// do sends c under the driver's retry policy (provider.RetryPolicy, so
// provider.WithoutRetries makes it one try): 429 (honouring Retry-After up
// to MaxRetryWait; a longer wait is returned at once) and 5xx are retried.
// Inside each try, an access token the server calls expired is handed back
// to the token source once and the request sent again with the new token:
// the caller cannot refresh it, so this is no retry of the step. A 2xx
// response is returned open; anything else is an *apiError, a
// *provider.RateLimitError wrapping one, or a transport error.
func (s *Storage) do(ctx context.Context, c call) (*http.Response, error) {
	argJSON, err := json.Marshal(c.arg)
	if err != nil {
		return nil, err
	}
	content := c.host == s.content && c.host != "" && contentRoutes[c.route]
	refreshed := false
	var resp *http.Response
	policy := provider.RetryPolicy{Attempts: s.opts.MaxRetries + 1, MaxWait: s.opts.MaxRetryWait}
	err = policy.Do(ctx, s.retryable, func() error {
		var err error
		resp, err = s.send(ctx, c, content, argJSON, &refreshed)
		return err
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return resp, nil
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

// send is one try of c, plus one resend when the server calls the access
// token expired and *refreshed is still false.
func (s *Storage) send(ctx context.Context, c call, content bool, argJSON []byte, refreshed *bool) (*http.Response, error) {
	for {
		var body io.Reader
		if content {
			body = bytes.NewReader(c.body)
		} else {
			body = bytes.NewReader(argJSON)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.host+"/2/"+c.route, body)
		if err != nil {
			return nil, err
		}
		if content {
			req.Header.Set("Dropbox-API-Arg", asciiJSON(argJSON))
			req.Header.Set("Content-Type", "application/octet-stream")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		tok, err := s.tokens.Token()
		if err != nil {
			// A refused refresh is already ErrUnauthenticated naming the
			// account.
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if c.rangeH != "" {
			req.Header.Set("Range", c.rangeH)
		}
		resp, err := s.http.Do(req)
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
		case resp.StatusCode == http.StatusUnauthorized && ae.has("expired_access_token") && !*refreshed:
			ex, ok := s.tokens.(expirer)
			if !ok {
				return nil, ae
			}
			*refreshed = true
			ex.Expire(tok.AccessToken)
			continue
		}
		return nil, ae
	}
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

// rpc calls an RPC route and decodes its JSON result into out (may be nil).
func (s *Storage) rpc(ctx context.Context, route string, arg, out any) error {
	resp, err := s.do(ctx, call{host: s.api, route: route, arg: arg})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// upload calls a content-upload route with body and decodes the result.
func (s *Storage) upload(ctx context.Context, route string, arg any, body []byte, out any) error {
	resp, err := s.do(ctx, call{host: s.content, route: route, arg: arg, body: body})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
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
