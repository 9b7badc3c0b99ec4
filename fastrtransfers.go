package amove

import (
	"context"
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
	// sees; its keys sign the requests to the source.
	SourceAccountID string
	// SourceURL is the source server; empty means the account's own.
	SourceURL    string
	SourceBucket string
	SourceKey    string
	// TargetAccountID's keys sign the requests to the target; empty means
	// the source account's (two servers of one owner often share a key
	// pair).
	TargetAccountID string
	// TargetURL is the target server; empty means the target account's.
	TargetURL    string
	TargetBucket string
	TargetKey    string
	ChunkSize    int64
}

// P2PTransferRequest asks the source Fastr server to push one object to
// the target server itself. The target account's driver opens the upload
// session and hands the source a credential for that session only, never
// the target's keys. When the source cannot reach the target, the agent
// relays the bytes (Status.Push.Mode "relay").
type P2PTransferRequest struct {
	SourceAccountID string
	SourceBucket    string
	SourceKey       string
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

// defaultPushChunk is the spec's chunkSizeMB default of 64.
const defaultPushChunk = 64 << 20

// StartServerTransfer starts a server transfer and returns its transfer id.
func (c *Client) StartServerTransfer(ctx context.Context, p Principal, r ServerTransferRequest) (string, error) {
	src, srcURL, dst, dstURL, err := c.fastrRefs(ctx, p, r.SourceAccountID, r.SourceURL, r.TargetAccountID, r.TargetURL)
	if err != nil {
		return "", err
	}
	return c.start(ctx, transfer.Request{Kind: transfer.ServerTransfer, Owner: owner(p), PartSize: r.ChunkSize,
		Source: transfer.Location{Account: src, Bucket: r.SourceBucket, Key: r.SourceKey},
		Dest:   transfer.Location{Account: dst, Bucket: r.TargetBucket, Key: r.TargetKey},
		Meta:   map[string]string{MetaSourceURL: srcURL, MetaTargetURL: dstURL}})
}

// StartP2PTransfer starts a P2P transfer and returns its transfer id once
// the source server has the push under way (or the agent relays).
func (c *Client) StartP2PTransfer(ctx context.Context, p Principal, r P2PTransferRequest) (string, error) {
	src, srcURL, dst, dstURL, err := c.fastrRefs(ctx, p, r.SourceAccountID, "", r.TargetAccountID, r.TargetURL)
	if err != nil {
		return "", err
	}
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
