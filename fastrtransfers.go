package amove

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/url"
	"strings"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// Fastr server transfers and P2P transfers (docs/fastr.md §6) are transfer
// jobs like any other: journaled, resumed after a restart, and listed,
// paused, resumed and cancelled with ListTransfers, PauseTransfer,
// ResumeTransfer and CancelTransfer. Their Status carries the server URLs in
// Meta (MetaSourceURL, MetaTargetURL) and, for P2P, how the bytes travel in
// Push.

// Status.Meta keys of Fastr transfers.
const (
	MetaSourceURL = "sourceServerUrl"
	MetaTargetURL = "targetServerUrl"
)

// ServerTransferRequest streams one object from a Fastr server into
// another through the agent, in 8 MB chunks (or ChunkSize).
type ServerTransferRequest struct {
	// SourceAccountID names a LocalHttp or FastrServer account the caller
	// sees; its keys sign the requests to the source. Empty means the
	// caller's Fastr account at SourceURL (the spec names only the six
	// URL, bucket and path fields as required).
	SourceAccountID string
	// SourceURL is the source server; empty means the account's own.
	SourceURL    string
	SourceBucket string
	SourceKey    string
	// TargetAccountID's keys sign the requests to the target; empty means
	// the caller's Fastr account at TargetURL when there is one, else the
	// source account's (two servers of one owner often share a key pair).
	TargetAccountID string
	// TargetURL is the target server; empty means the target account's.
	TargetURL    string
	TargetBucket string
	TargetKey    string
	ChunkSize    int64
	// Metadata is user metadata the target object gets.
	Metadata map[string]string
}

// P2PTransferRequest asks the source Fastr server to push one object to
// the target server itself. The target account's driver opens the upload
// session and hands the source a credential for that session only, never
// the target's keys. When the source cannot reach the target, the agent
// relays the bytes (Status.Push.Mode "relay").
type P2PTransferRequest struct {
	SourceAccountID string
	// SourceCredentials, when set, take the place of SourceAccountID: the
	// source server and its keys, as the spec's inline sourceAccount gives
	// them, used for this transfer only. They stay in this Client's memory
	// while the transfer is not final and are never stored, logged or sent
	// anywhere but in the signatures of requests to their ServiceURL,
	// which Options.Outbound bounds like any account's. An agent restarted
	// meanwhile cannot resume the transfer.
	SourceCredentials *FastrCredentials
	SourceBucket      string
	SourceKey         string
	// TargetAccountID defaults to SourceAccountID, TargetURL to the target
	// account's serviceUrl.
	TargetAccountID string
	TargetURL       string
	TargetBucket    string
	TargetKey       string
	// ChunkSize is the push's chunk; zero means 64 MiB.
	ChunkSize int64
	// Overwrite allows replacing an existing target object.
	Overwrite bool
}

// FastrCredentials are a Fastr server's address and keys given with a
// request instead of a stored account's. Printing or logging them shows
// the keys masked.
type FastrCredentials struct {
	// CloudType is provider.LocalHttp or provider.FastrServer; zero means
	// LocalHttp.
	CloudType  provider.CloudType
	ServiceURL string
	AccessKey  string
	SecretKey  string
}

// LogValue masks the keys.
func (f FastrCredentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("cloudType", f.CloudType.String()), slog.String("serviceUrl", f.ServiceURL),
		slog.String("accessKey", provider.Mask(f.AccessKey)), slog.String("secretKey", provider.Mask(f.SecretKey)))
}

// String masks the keys, as LogValue.
func (f FastrCredentials) String() string { return f.LogValue().String() }

// GoString masks the keys, as LogValue.
func (f FastrCredentials) GoString() string { return "amove.FastrCredentials" + f.String() }

// inlinePrefix starts the engine reference of inline credentials: a random
// name for the entry in Client.inline, never the credentials.
const inlinePrefix = "inline:"

// inlineRef keeps f in memory for one transfer and returns its engine
// reference and server URL, after the checks a stored Fastr account gets.
func (c *Client) inlineRef(f FastrCredentials) (ref, at string, err error) {
	if f.CloudType == 0 {
		f.CloudType = provider.LocalHttp
	}
	if f.CloudType != provider.LocalHttp && f.CloudType != provider.FastrServer {
		return "", "", invalid("sourceAccount is %s, not a Fastr (LocalHttp or FastrServer) account", f.CloudType)
	}
	u, perr := url.Parse(f.ServiceURL)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", "", invalid("sourceAccount.serviceUrl %q is not an http(s) URL", truncate(f.ServiceURL, 80))
	}
	if f.AccessKey == "" || f.SecretKey == "" {
		return "", "", invalid("sourceAccount needs accessKey and secretKey with serviceUrl")
	}
	ref = inlinePrefix + rand.Text()
	c.inline.Store(ref, f)
	return ref, f.ServiceURL, nil
}

// openInline opens the driver of inline credentials; they are gone once
// their transfer ended or the agent restarted.
func (c *Client) openInline(ctx context.Context, ref string) (provider.Storage, error) {
	v, ok := c.inline.Load(ref)
	if !ok {
		return nil, &Error{Code: CodeTransfer, Message: "the transfer's inline source credentials are gone (the agent restarted); start it again"}
	}
	f := v.(FastrCredentials)
	st, err := c.open(ctx, provider.Config{CloudType: f.CloudType, AccessKey: f.AccessKey, SecretKey: f.SecretKey,
		ServiceURL: f.ServiceURL, Logger: c.log, HTTPClient: c.httpClient})
	if err != nil {
		return nil, providerErr(redact(err, f.AccessKey, f.SecretKey, ""), "open the inline source account")
	}
	return st, nil
}

// inlineRefs are the references of inline source credentials and of the
// target: the target account's when there is one, else, as with a stored
// source account, the same credentials at the target URL.
func (c *Client) inlineRefs(ctx context.Context, p Principal, f FastrCredentials, dstID, dstURL string) (src, srcAt, dst, dstAt string, err error) {
	if err := p.check(); err != nil {
		return "", "", "", "", err
	}
	if dstID != "" {
		if dst, dstAt, err = c.fastrRef(ctx, p, dstID, dstURL); err != nil {
			return "", "", "", "", err
		}
	}
	if src, srcAt, err = c.inlineRef(f); err != nil {
		return "", "", "", "", err
	}
	if dstID == "" {
		t := f
		t.ServiceURL = dstURL
		if dst, dstAt, err = c.inlineRef(t); err != nil {
			c.inline.Delete(src)
			return "", "", "", "", err
		}
	}
	return src, srcAt, dst, dstAt, nil
}

// forgetInline drops the inline credentials of refs once the transfer is
// final (or the engine closes); ids receives the transfer's id once it
// started, or is closed when it did not.
func (c *Client) forgetInline(ids <-chan string, refs ...string) {
	events, stop := c.engine.Subscribe(subscribeBuffer)
	go func() {
		defer func() {
			for _, ref := range refs {
				if strings.HasPrefix(ref, inlinePrefix) {
					c.inline.Delete(ref)
				}
			}
		}()
		defer stop()
		id, ok := <-ids
		if !ok {
			return
		}
		if st, err := c.engine.Lookup(context.Background(), id); err == nil && st.State.Final() {
			return
		}
		for {
			select {
			case ev := <-events:
				if ev.Status.ID == id && ev.Status.State.Final() {
					return
				}
			case <-c.closing.Done():
				return
			}
		}
	}()
}

// defaultPushChunk is the spec's chunkSizeMB default of 64.
const defaultPushChunk = 64 << 20

// StartServerTransfer starts a server transfer and returns its transfer id.
func (c *Client) StartServerTransfer(ctx context.Context, p Principal, r ServerTransferRequest) (string, error) {
	if r.SourceAccountID == "" {
		id, err := c.fastrAccountAt(ctx, p, r.SourceURL)
		if err != nil {
			return "", err
		}
		if id == "" {
			return "", notFound("Fastr account for the source server (give sourceAccountId)")
		}
		r.SourceAccountID = id
		if r.TargetAccountID == "" {
			if r.TargetAccountID, err = c.fastrAccountAt(ctx, p, r.TargetURL); err != nil {
				return "", err
			}
		}
	}
	src, srcURL, dst, dstURL, err := c.fastrRefs(ctx, p, r.SourceAccountID, r.SourceURL, r.TargetAccountID, r.TargetURL)
	if err != nil {
		return "", err
	}
	return c.start(ctx, transfer.Request{Kind: transfer.ServerTransfer, Owner: owner(p), PartSize: r.ChunkSize,
		Source:   transfer.Location{Account: src, Bucket: r.SourceBucket, Key: r.SourceKey},
		Dest:     transfer.Location{Account: dst, Bucket: r.TargetBucket, Key: r.TargetKey},
		Meta:     map[string]string{MetaSourceURL: srcURL, MetaTargetURL: dstURL},
		Metadata: r.Metadata})
}

// StartP2PTransfer starts a P2P transfer and returns its transfer id once
// the source server has the push under way (or the agent relays).
func (c *Client) StartP2PTransfer(ctx context.Context, p Principal, r P2PTransferRequest) (string, error) {
	var src, srcURL, dst, dstURL string
	var err error
	if r.SourceCredentials == nil {
		src, srcURL, dst, dstURL, err = c.fastrRefs(ctx, p, r.SourceAccountID, "", r.TargetAccountID, r.TargetURL)
	} else {
		if err = p.check(); err != nil {
			return "", err
		}
		src, srcURL, dst, dstURL, err = c.inlineRefs(ctx, p, *r.SourceCredentials, r.TargetAccountID, r.TargetURL)
	}
	if err != nil {
		return "", err
	}
	if r.SourceCredentials != nil {
		ids := make(chan string, 1)
		defer close(ids)
		c.forgetInline(ids, src, dst)
		id, err := c.startP2P(ctx, p, r, src, srcURL, dst, dstURL)
		if err == nil {
			ids <- id
		}
		return id, err
	}
	return c.startP2P(ctx, p, r, src, srcURL, dst, dstURL)
}

func (c *Client) startP2P(ctx context.Context, p Principal, r P2PTransferRequest, src, srcURL, dst, dstURL string) (string, error) {
	chunk := r.ChunkSize
	if chunk == 0 {
		chunk = defaultPushChunk
	}
	id, err := c.start(ctx, transfer.Request{Kind: transfer.P2P, Owner: owner(p), PartSize: chunk, Overwrite: r.Overwrite,
		Source: transfer.Location{Account: src, Bucket: r.SourceBucket, Key: r.SourceKey},
		Dest:   transfer.Location{Account: dst, Bucket: r.TargetBucket, Key: r.TargetKey},
		Meta:   map[string]string{MetaSourceURL: srcURL, MetaTargetURL: dstURL}})
	if err != nil {
		return "", err
	}
	_ = c.engine.AwaitStarted(ctx, id)
	return id, nil
}

// fastrAccountAt is the id of the caller's first Fastr (LocalHttp or
// FastrServer) account whose server is serviceURL, or "" when none is.
func (c *Client) fastrAccountAt(ctx context.Context, p Principal, serviceURL string) (string, error) {
	if serviceURL == "" {
		return "", nil
	}
	as, err := c.ListAccounts(ctx, p)
	if err != nil {
		return "", err
	}
	want := strings.TrimSuffix(serviceURL, "/")
	for _, a := range as {
		if a.CloudType != provider.LocalHttp && a.CloudType != provider.FastrServer {
			continue
		}
		own := a.ServiceURL
		if own == "" {
			own = a.Endpoint
		}
		if strings.TrimSuffix(own, "/") == want {
			return a.ID, nil
		}
	}
	return "", nil
}

// fastrRefs is fastrRef of the source and of the target account, which
// defaults to the source's.
func (c *Client) fastrRefs(ctx context.Context, p Principal, srcID, srcURL, dstID, dstURL string) (src, srcAt, dst, dstAt string, err error) {
	if src, srcAt, err = c.fastrRef(ctx, p, srcID, srcURL); err != nil {
		return "", "", "", "", err
	}
	if dstID == "" {
		dstID = srcID
	}
	if dst, dstAt, err = c.fastrRef(ctx, p, dstID, dstURL); err != nil {
		return "", "", "", "", err
	}
	return src, srcAt, dst, dstAt, nil
}

// fastrRef checks that p sees a Fastr account and returns its engine
// reference at serviceURL (empty: the account's own) and that URL. The
// account's keys sign requests to that server; they are never sent to it.
func (c *Client) fastrRef(ctx context.Context, p Principal, accountID, serviceURL string) (ref, at string, err error) {
	a, err := c.account(ctx, p, accountID)
	if err != nil {
		return "", "", err
	}
	if a.CloudType != provider.LocalHttp && a.CloudType != provider.FastrServer {
		return "", "", invalid("cloud account %s is %s, not a Fastr (LocalHttp or FastrServer) account", a.ID, a.CloudType)
	}
	own := a.ServiceURL
	if own == "" {
		own = a.Endpoint
	}
	ref = accountRef(a.TenantID, a.ID)
	if serviceURL == "" || serviceURL == own {
		return ref, own, nil
	}
	u, perr := url.Parse(serviceURL)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", "", invalid("server URL %q is not an http(s) URL", truncate(serviceURL, 80))
	}
	return ref + "@" + serviceURL, serviceURL, nil
}

// splitServiceURL takes the server URL off an account reference made by
// fastrRef: "tenant/account@url".
func splitServiceURL(id string) (accountID, serviceURL string) {
	accountID, serviceURL, _ = strings.Cut(id, "@")
	return accountID, serviceURL
}
