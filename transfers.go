package amove

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TransferOptions configure the Client's transfer engine.
type TransferOptions struct {
	// Journal persists transfers. Nil means the store's journal, so a
	// transfer survives an agent restart.
	Journal transfer.Journal
	// Concurrency and PartSize tune the engine (see transfer.Options).
	Concurrency int
	PartSize    int64
	// NoDownloadChecksums skips the end-to-end check of downloads (see
	// transfer.Options.NoDownloadChecksums): faster on objects whose only
	// digest is an MD5 ETag, at the price of checking nothing but length.
	NoDownloadChecksums bool
	// Retention is how long finished transfers stay listed after their last
	// change (see transfer.Options.Retention). Default 30 days; negative
	// keeps them for ever.
	Retention time.Duration
	// AgentID makes the Client one of the agents that share the store's
	// transfer queue (docs/scale-out.md): each transfer is a job in the
	// store, run a slice at a time by an agent that may run it (an upload
	// or download only by the agent that started it, where its local
	// paths are; a copy, server or P2P transfer by any), taken over by
	// another agent within a minute when the one running it dies, and
	// paused, resumed or cancelled from any agent. Its events reach every
	// agent's Subscribe. The agent takes work from RestoreTransfers on,
	// until StopTransfers or Close. The id is stable across restarts and
	// unique among the store's agents: lower-case letters and digits,
	// with '-' or '_' between them. The store must carry a queue
	// (store/sqlite, store/postgres, not a Store of your own).
	//
	// Empty: transfers run in this Client alone, and only one process on
	// the store should call RestoreTransfers.
	AgentID string
}

// startEngine creates the transfer engine, joined to the store's queue
// when opts.AgentID is set. It runs nothing until a transfer is started
// or RestoreTransfers is called.
func (c *Client) startEngine(ctx context.Context, opts TransferOptions) error {
	j := opts.Journal
	if j == nil {
		j = c.store.Journal()
	}
	var sch transfer.Scheduler
	if opts.AgentID != "" {
		q, err := c.openQueue(ctx, opts.AgentID)
		if err != nil {
			return err
		}
		c.queue, sch = q, queueScheduler{q}
	}
	c.engine = transfer.New(transfer.Options{
		Scheduler:           sch,
		Open:                c.openRef,
		Journal:             j,
		Concurrency:         opts.Concurrency,
		PartSize:            opts.PartSize,
		Retention:           opts.Retention,
		NoDownloadChecksums: opts.NoDownloadChecksums,
		Protected:           c.protected,
		MayRun:              c.mayRun,
		Logger:              c.log,
	})
	if c.queue != nil {
		in, stop := c.engine.Subscribe(subscribeBuffer)
		c.stopPublish = stop
		c.published.Go(func() { c.publishEvents(in) })
	}
	return nil
}

// RestoreTransfers continues, in this Client, the transfers the store
// records as running or pending: those an earlier process was running when
// it stopped or crashed. Each restarts from its last recorded part. Paused
// and failed transfers stay at rest until ResumeTransfer. It also deletes
// finished transfers older than TransferOptions.Retention.
//
// Only one process on a store should call it, the one that runs transfers
// for the others (the agent): two that both restore would run the same
// transfer twice. Short-lived clients sharing the store (the CLI) do not
// call it and still list every transfer (ListTransfers reads the store).
//
// With TransferOptions.AgentID it starts this agent's work instead: it
// hands the queue any unfinished transfer the queue does not carry (from
// a store used before the queue), then takes transfers from the queue
// until StopTransfers. Every agent on the store calls it.
func (c *Client) RestoreTransfers(ctx context.Context) error {
	if err := c.engine.Restore(ctx); err != nil {
		return transferErr(err, "restore transfers")
	}
	if c.queue != nil {
		if err := c.queue.Start(ctx); err != nil {
			return fmt.Errorf("amove: start the transfer queue: %w", err)
		}
	}
	return nil
}

// StopTransfers stops the transfers this Client runs, for an ordered
// shutdown: their in-flight parts are cancelled and they stay "running" in
// the store, so the next RestoreTransfers on it continues them. It returns
// when they have stopped; no transfer starts afterwards. Close calls it;
// call it before Close when something the transfers use (such as an
// embedded Fastr server) must outlive them. Calling it again does nothing.
//
// An agent (TransferOptions.AgentID) first stops taking transfers and
// hands the ones it runs back to the queue at the end of their slices
// (within half a minute), so the other agents continue its shared ones at
// once; its uploads and downloads wait for it.
func (c *Client) StopTransfers() {
	if c.queue != nil {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if err := c.queue.Drain(ctx); err != nil {
			c.log.Warn("amove: draining the transfer queue", "err", err)
		}
		cancel()
	}
	c.engine.Close()
	if c.stopPublish != nil {
		c.stopPublish()
		c.published.Wait()
	}
}

// An account reference, as the engine keeps it, names the tenant and the
// account so a restarted agent can reopen it. It never holds credentials.
func accountRef(tenantID, accountID string) string { return tenantID + "/" + accountID }

func (c *Client) openRef(ctx context.Context, ref string) (provider.Storage, error) {
	if strings.HasPrefix(ref, inlinePrefix) {
		return c.openInline(ctx, ref)
	}
	tenantID, id, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, fmt.Errorf("amove: bad account reference %q", ref)
	}
	id, serviceURL := splitServiceURL(id)
	a, err := c.store.GetAccount(ctx, tenantID, id)
	if err != nil {
		return nil, storeErr(err, "cloud account")
	}
	if serviceURL != "" {
		a.ServiceURL = serviceURL // a Fastr transfer at another server (fastrtransfers.go)
	}
	st, _, err := c.openStored(ctx, a)
	return st, err
}

func owner(p Principal) string { return p.TenantID + "/" + p.UserID }

// UploadRequest uploads a local file or directory tree.
type UploadRequest struct {
	AccountID string
	Bucket    string
	// Key is the object key, or a prefix ending in "/" (or empty) that the
	// file names are appended to.
	Key       string
	LocalPath string
	// BytesPerSecond caps the transfer's bandwidth; zero means no cap.
	BytesPerSecond int64
}

// DownloadRequest downloads an object, or every object under a prefix
// ending in "/", into LocalPath.
type DownloadRequest struct {
	AccountID string
	Bucket    string
	Key       string
	LocalPath string
	// Overwrite lets the download replace existing local files; without it
	// an existing file is refused (CodeFilesystem) and left as it was.
	Overwrite bool
	// BytesPerSecond caps the transfer's bandwidth; zero means no cap.
	BytesPerSecond int64
}

// CopyRequest copies objects between two accounts the caller sees, or
// inside one (server-side when the provider allows it).
type CopyRequest struct {
	SourceAccountID, SourceBucket, SourceKey string
	DestAccountID, DestBucket, DestKey       string
	// BytesPerSecond caps the transfer's bandwidth; zero means no cap.
	BytesPerSecond int64
}

// ref checks that p sees account id and returns its engine reference.
func (c *Client) ref(ctx context.Context, p Principal, id string) (string, error) {
	a, err := c.account(ctx, p, id)
	if err != nil {
		return "", err
	}
	return accountRef(a.TenantID, a.ID), nil
}

func (c *Client) start(ctx context.Context, req transfer.Request) (string, error) {
	id, err := c.engine.Start(ctx, req)
	if err != nil {
		return "", transferErr(err, "start "+string(req.Kind))
	}
	return id, nil
}

// Upload starts a background upload and returns its transfer id.
func (c *Client) Upload(ctx context.Context, p Principal, r UploadRequest) (string, error) {
	ref, err := c.ref(ctx, p, r.AccountID)
	if err != nil {
		return "", err
	}
	return c.start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: r.LocalPath, Owner: owner(p), BytesPerSecond: r.BytesPerSecond,
		Dest: transfer.Location{Account: ref, Bucket: r.Bucket, Key: r.Key}})
}

// Download starts a background download and returns its transfer id.
func (c *Client) Download(ctx context.Context, p Principal, r DownloadRequest) (string, error) {
	ref, err := c.ref(ctx, p, r.AccountID)
	if err != nil {
		return "", err
	}
	return c.start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: r.LocalPath, Owner: owner(p), Overwrite: r.Overwrite, BytesPerSecond: r.BytesPerSecond,
		Source: transfer.Location{Account: ref, Bucket: r.Bucket, Key: r.Key}})
}

// Copy starts a background copy and returns its transfer id.
func (c *Client) Copy(ctx context.Context, p Principal, r CopyRequest) (string, error) {
	src, err := c.ref(ctx, p, r.SourceAccountID)
	if err != nil {
		return "", err
	}
	dst, err := c.ref(ctx, p, r.DestAccountID)
	if err != nil {
		return "", err
	}
	return c.start(ctx, transfer.Request{Kind: transfer.Copy, Owner: owner(p), BytesPerSecond: r.BytesPerSecond,
		Source: transfer.Location{Account: src, Bucket: r.SourceBucket, Key: r.SourceKey},
		Dest:   transfer.Location{Account: dst, Bucket: r.DestBucket, Key: r.DestKey}})
}

// sees reports whether p may see and control the transfer: its owner, or an
// admin of the same tenant.
func sees(p Principal, st transfer.Status) bool {
	if st.Owner == owner(p) {
		return true
	}
	return p.Role.IsAdmin() && strings.HasPrefix(st.Owner, p.TenantID+"/")
}

// TransferStatus returns a transfer the caller may see, whichever process
// on the store runs or ran it: the live status of a transfer this client
// runs, the store's record of any other. Any other id is NOT_FOUND.
func (c *Client) TransferStatus(ctx context.Context, p Principal, id string) (transfer.Status, error) {
	if err := p.check(); err != nil {
		return transfer.Status{}, err
	}
	st, err := c.engine.Lookup(ctx, id)
	if errors.Is(err, transfer.ErrUnknownJob) || err == nil && !sees(p, st) {
		return transfer.Status{}, notFound("transfer")
	}
	if err != nil {
		return transfer.Status{}, transferErr(err, "transfer status")
	}
	return st, nil
}

// ListTransfers returns the transfers the caller may see, oldest first,
// read from the store: those this client runs (with live progress) and
// those of every other process on the store, such as the agent's and
// earlier CLI runs', with their recorded state and byte counts. Finished
// transfers stay listed for TransferOptions.Retention.
func (c *Client) ListTransfers(ctx context.Context, p Principal) ([]transfer.Status, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	f := transfer.ListFilter{Owner: owner(p)}
	if p.Role.IsAdmin() {
		f = transfer.ListFilter{OwnerPrefix: p.TenantID + "/"}
	}
	all, err := c.engine.ListJournal(ctx, f)
	if err != nil {
		return nil, transferErr(err, "list transfers")
	}
	return slices.DeleteFunc(all, func(st transfer.Status) bool { return !sees(p, st) }), nil
}

// PauseTransfer pauses a transfer this client runs; anything else is an
// error with code TRANSFER (errors.Is transfer.ErrBadState), among them a
// transfer running in another process on the store (pause it there: the
// agent's HTTP API for the agent's transfers).
func (c *Client) PauseTransfer(ctx context.Context, p Principal, id string) error {
	if _, err := c.TransferStatus(ctx, p, id); err != nil {
		return err
	}
	return transferErr(c.engine.Pause(ctx, id), "pause transfer")
}

// ResumeTransfer continues a paused (or failed) transfer in this client,
// from the parts the store recorded. A transfer paused or failed in another
// process (or before a restart) is taken over: it runs in this client from
// then on, so keep the client open until it ends. A transfer the store says
// is running or pending belongs to another process: code TRANSFER
// (transfer.ErrBadState). The transfer's owner must still be active and see
// every account it uses: NOT_FOUND (the account) or ACCESS (an inactive
// owner) otherwise.
func (c *Client) ResumeTransfer(ctx context.Context, p Principal, id string) error {
	st, err := c.TransferStatus(ctx, p, id)
	if err != nil {
		return err
	}
	// A transfer paused because its owner lost access stays paused.
	if err := c.mayRun(ctx, st); err != nil {
		return err
	}
	if err := c.engine.Resume(ctx, id); err != nil {
		return transferErr(err, "resume transfer")
	}
	// A P2P push is resumed on its source server before this returns.
	_ = c.engine.AwaitStarted(ctx, id)
	return nil
}

// CancelTransfer stops a transfer for good and cleans up after it. Like
// ResumeTransfer it takes over a paused or failed transfer of another
// process, and refuses one running there (code TRANSFER).
func (c *Client) CancelTransfer(ctx context.Context, p Principal, id string) error {
	if _, err := c.TransferStatus(ctx, p, id); err != nil {
		return err
	}
	return transferErr(c.engine.Cancel(ctx, id), "cancel transfer")
}

// WaitTransfer waits until a transfer the caller may see ends or pauses,
// or ctx is done, and returns its status. The transfer may run in another
// process on the store: then its recorded status is returned if it has
// ended or paused, and an error with code TRANSFER (transfer.ErrBadState)
// if it has not, since only the process that runs it can wait for it. Any
// other id is NOT_FOUND, as in TransferStatus.
func (c *Client) WaitTransfer(ctx context.Context, p Principal, id string) (transfer.Status, error) {
	if _, err := c.TransferStatus(ctx, p, id); err != nil {
		return transfer.Status{}, err
	}
	st, err := c.engine.Wait(ctx, id)
	switch {
	case err == nil:
		return st, nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return st, err
	case errors.Is(err, transfer.ErrUnknownJob):
		// Seen above, so it lives in the store but runs elsewhere.
		return transfer.Status{}, &Error{Code: CodeTransfer, Message: "wait transfer: it runs in another process",
			Err: fmt.Errorf("%w: %s runs in another process", transfer.ErrBadState, id)}
	}
	return st, transferErr(err, "wait transfer")
}

// subscribeBuffer is how many events a subscriber may fall behind by
// before it loses some.
const subscribeBuffer = 256

// Subscribe delivers the progress and state events of the transfers this
// Client runs that p may see (as TransferStatus: p's own, or every one of
// p's tenant for an admin), until stop is called or ctx is done; the
// channel is closed then. A reader that falls behind by more than a few
// hundred events loses some rather than slow the transfers down, so read
// the status with TransferStatus where it matters. Transfers that run in
// other processes on the store send no events here. An invalid p gets a
// closed channel.
func (c *Client) Subscribe(ctx context.Context, p Principal) (events <-chan transfer.Event, stop func()) {
	out := make(chan transfer.Event, subscribeBuffer)
	if p.check() != nil {
		close(out)
		return out, func() {}
	}
	// The engine's own subscription is read at once by the goroutine
	// below, so a slow reader here never holds up the engine, which waits
	// for a full subscriber before it drops a state event.
	in, unsubscribe := c.engine.Subscribe(subscribeBuffer)
	quit, exited := make(chan struct{}), make(chan struct{})
	// The other agents' events, when this Client is one of them.
	rctx, stopRemote := context.WithCancel(ctx)
	remote := c.remoteEvents(rctx)
	var once sync.Once
	end := func() { once.Do(func() { close(quit); unsubscribe(); stopRemote() }) }
	go func() {
		defer close(exited)
		defer close(out)
		for {
			var ev transfer.Event
			select {
			case e, ok := <-in:
				if !ok {
					return
				}
				ev = e
			case e, ok := <-remote:
				if !ok {
					remote = nil // the queue is drained: local events only
					continue
				}
				ev = e
			case <-ctx.Done():
				end()
				return
			case <-quit:
				return
			}
			if !sees(p, ev.Status) {
				continue
			}
			select {
			case out <- ev:
			default: // the reader fell behind
			}
		}
	}()
	return out, func() { end(); <-exited }
}

// transferErr maps engine errors onto the error model.
func transferErr(err error, op string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, transfer.ErrUnknownJob):
		return &Error{Code: CodeNotFound, Message: "transfer not found", Err: err}
	case errors.Is(err, transfer.ErrProtected), errors.Is(err, transfer.ErrExists), errors.Is(err, transfer.ErrSourceChanged):
		return &Error{Code: CodeFilesystem, Message: op + ": " + err.Error(), Err: err}
	case errors.Is(err, transfer.ErrBadState):
		return &Error{Code: CodeTransfer, Message: op + ": " + err.Error(), Err: err}
	case errors.Is(err, provider.ErrInvalid):
		return &Error{Code: CodeDefault, Message: op + ": " + err.Error(), Err: err}
	case errors.Is(err, provider.ErrOutboundRefused):
		// A URL from the request (a Fastr server) the policy refused: say
		// so, as inserting such an account does.
		return &Error{Code: CodeDefault, Message: op + ": the agent's outbound policy does not allow this endpoint (see amove serve -allow-host)", Err: err}
	}
	if pe := providerErr(err, op); pe != err {
		return pe
	}
	return &Error{Code: CodeTransfer, Message: op + " failed", Err: err}
}
