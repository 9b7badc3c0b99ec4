package amove

import (
	"context"
	"strings"
	"sync"

	"github.com/amove/amove-go/transfer"
)

// Revoking access (issue 13, item 8): a user who loses an account (unshared,
// deleted) or is deactivated stops reading and writing through it at once.
// Their transfers this client runs on it are paused, and ResumeTransfer
// refuses them for as long as the owner lacks access.

// revocations holds the functions OnUserDeactivated registered.
type revocations struct {
	mu    sync.Mutex
	next  int
	hooks map[int]func(userID string)
}

// OnUserDeactivated registers f to be called with the id of every user
// SetUserActive deactivates through this Client, after the store holds the
// change. f runs on the caller's goroutine and must not block. The returned
// function unregisters f. httpapi closes the user's WebSockets with it.
//
// A user deactivated by another process on a shared store is not reported
// here: their tokens are refused at the next request (Authenticate reads
// the user) and their open sessions end when the token expires.
func (c *Client) OnUserDeactivated(f func(userID string)) (stop func()) {
	r := &c.revoked
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hooks == nil {
		r.hooks = map[int]func(string){}
	}
	id := r.next
	r.next++
	r.hooks[id] = f
	return func() {
		r.mu.Lock()
		delete(r.hooks, id)
		r.mu.Unlock()
	}
}

func (r *revocations) userDeactivated(userID string) {
	r.mu.Lock()
	hooks := make([]func(string), 0, len(r.hooks))
	for _, f := range r.hooks {
		hooks = append(hooks, f)
	}
	r.mu.Unlock()
	for _, f := range hooks {
		f(userID)
	}
}

// SetUserActive activates or deactivates a user of the caller's tenant.
// Only admins may, and not on themselves (a tenant would lose its last
// admin). Deactivation takes effect at once: the user's tokens are refused
// (Authenticate reads the user), the transfers of theirs this client runs
// are paused, and the OnUserDeactivated functions are told (the agent closes
// their WebSockets).
func (c *Client) SetUserActive(ctx context.Context, p Principal, userID string, active bool) error {
	if err := p.check(); err != nil {
		return err
	}
	if !p.Role.IsAdmin() {
		return &Error{Code: CodeAccess, Message: "only admins activate or deactivate users"}
	}
	id, ok := canonicalID(userID)
	if !ok {
		return invalid("user id is not a uuid")
	}
	if id == p.UserID {
		return invalid("you cannot change your own activation")
	}
	if err := c.store.SetUserActive(ctx, p.TenantID, id, active); err != nil {
		return storeErr(err, "user")
	}
	c.log.InfoContext(ctx, "user activation changed", "tenant", p.TenantID, "user", id, "active", active, "by", p.UserID)
	if active {
		return nil
	}
	c.revoked.userDeactivated(id)
	who := p.TenantID + "/" + id
	c.pauseRevoked(ctx, p.TenantID, "user deactivated", func(st transfer.Status) bool { return st.Owner == who })
	return nil
}

// accountRevoked pauses the transfers that use account id of the tenant and
// whose owner lost it: every owner but the account's (ownerID) when it was
// unshared, everyone when it was deleted (ownerID empty).
func (c *Client) accountRevoked(ctx context.Context, tenantID, accountID, ownerID, why string) {
	keep := ""
	if ownerID != "" {
		keep = tenantID + "/" + ownerID
	}
	c.pauseRevoked(ctx, tenantID, why, func(st transfer.Status) bool {
		if keep != "" && st.Owner == keep {
			return false
		}
		for _, ref := range []string{st.Source.Account, st.Dest.Account} {
			if t, id, ok := splitRef(ref); ok && t == tenantID && id == accountID {
				return true
			}
		}
		return false
	})
}

// pauseRevoked pauses the running and pending transfers of the tenant that
// lost selects. Only transfers this client runs can be paused: one running
// in another process on the store (a CLI copy) is logged and goes on there
// until it ends; resuming it later is refused all the same.
func (c *Client) pauseRevoked(ctx context.Context, tenantID, why string, lost func(transfer.Status) bool) {
	// The store already holds the revocation: finish even if the caller
	// goes away.
	ctx = context.WithoutCancel(ctx)
	list, err := c.engine.ListJournal(ctx, transfer.ListFilter{OwnerPrefix: tenantID + "/",
		States: []transfer.State{transfer.Pending, transfer.Running}})
	if err != nil {
		c.log.ErrorContext(ctx, "access revoked: listing transfers to pause", "why", why, "err", err)
		return
	}
	for _, st := range list {
		if !lost(st) {
			continue
		}
		if err := c.engine.Pause(ctx, st.ID); err != nil {
			c.log.WarnContext(ctx, "access revoked: transfer not paused", "transfer", st.ID, "why", why, "err", err)
			continue
		}
		c.log.InfoContext(ctx, "access revoked: transfer paused", "transfer", st.ID, "owner", st.Owner, "why", why)
	}
}

// splitRef parses an engine account reference, "tenant/account" or
// "tenant/account@serviceURL" (fastrRef).
func splitRef(ref string) (tenantID, accountID string, ok bool) {
	tenantID, rest, ok := strings.Cut(ref, "/")
	if !ok {
		return "", "", false
	}
	accountID, _ = splitServiceURL(rest)
	return tenantID, accountID, true
}

// mayRun checks that st's owner may still run it: the owner is active and
// sees every account it uses, as when it was started. A transfer paused
// because access was revoked thus stays paused: resuming it is NOT_FOUND
// (the account the owner no longer sees) or ACCESS (an inactive owner,
// when an admin tries).
func (c *Client) mayRun(ctx context.Context, st transfer.Status) error {
	tenantID, userID, ok := strings.Cut(st.Owner, "/")
	if !ok {
		return notFound("transfer")
	}
	u, err := c.store.GetUser(ctx, userID)
	if err != nil || u.TenantID != tenantID {
		return notFound("transfer")
	}
	if !u.Active {
		return &Error{Code: CodeAccess, Message: "the transfer's owner is not active"}
	}
	op := userOut(u).Principal()
	for _, ref := range []string{st.Source.Account, st.Dest.Account} {
		if ref == "" || strings.HasPrefix(ref, inlinePrefix) {
			continue // inline credentials are the caller's own, not an account
		}
		t, id, ok := splitRef(ref)
		if !ok || t != tenantID {
			return notFound("cloud account")
		}
		if _, err := c.account(ctx, op, id); err != nil {
			return err
		}
	}
	return nil
}
