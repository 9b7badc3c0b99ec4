package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// opError is a Client call that failed, with what the CLI asked for: the
// words of the operation and the location as the user wrote it. describe
// turns it into one line for people.
type opError struct {
	op      string // "list", "read", "copy"...
	account string // the account as the user named it
	bucket  string
	key     string
	err     error
}

func (e *opError) Error() string { return e.op + " " + e.target() + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func (e *opError) target() string {
	switch {
	case e.key != "":
		return fmt.Sprintf("%s:%s/%s", e.account, e.bucket, e.key)
	case e.bucket != "":
		return fmt.Sprintf("%s:%s", e.account, e.bucket)
	case e.account != "":
		return e.account + ":"
	}
	return ""
}

// failed wraps the error of an operation on r (nil stays nil).
func failed(err error, op string, r remote) error {
	if err == nil {
		return nil
	}
	if op == "list" {
		r.key = "" // a listing fails on its bucket; a prefix is never missing
	}
	return &opError{op: op, account: r.ref, bucket: r.bucket, key: r.key, err: err}
}

// errorCode is the API's error code of err (amove.ErrorCode), "USAGE" for
// a usage error, "PARTIAL" for a partly done command, "DEFAULT" for
// anything else.
func errorCode(err error) string {
	var pe *partialError
	switch {
	case errors.Is(err, errUsage):
		return "USAGE"
	case errors.As(err, &pe):
		return "PARTIAL"
	}
	if c := amove.ErrorCode(err); c != "" {
		return string(c)
	}
	return string(amove.CodeDefault)
}

// describe says in one line what failed, on what, and what to do. The
// provider's own words (request ids, HTTP bodies) follow only with -v.
func (a *app) describe(err error) string {
	msg := humanize(err)
	if a.verbose {
		msg += "\n  details: " + err.Error()
	}
	return msg
}

func humanize(err error) string {
	var (
		ue  *usageError
		pe  *partialError
		oe  *opError
		ae  *amove.Error
		pth *fs.PathError
		ne  *net.OpError
		se  *storeError
	)
	switch {
	case errors.As(err, &ue):
		return ue.msg + " (see amove --help, or amove COMMAND --help)"
	case errors.As(err, &pe):
		return fmt.Sprintf("%d of %d objects failed; the first: %s", pe.failed, pe.done+pe.failed, humanize(pe.first))
	}
	var ie *interruptedError
	var te *transferError
	switch {
	case errors.As(err, &ie) && len(ie.ids) > 0:
		var b strings.Builder
		b.WriteString("interrupted: the transfer is paused in the journal; resume it with:")
		for _, id := range ie.ids {
			b.WriteString("\n  amove transfers resume " + id)
		}
		return b.String()
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &te):
		msg := fmt.Sprintf("%s of %s %s", te.st.Kind, te.name, te.st.State)
		if te.st.Error != "" {
			msg += ": " + te.st.Error
		}
		if te.st.State == transfer.Failed {
			msg += fmt.Sprintf("; retry it with amove transfers resume %s", te.st.ID)
		}
		return msg
	}
	hasOp := errors.As(err, &oe)
	// doing is what failed, in the user's words.
	doing := "do that"
	if hasOp {
		doing = strings.TrimSpace(oe.op + " " + oe.target())
	}
	switch {
	case hasOp && (errors.Is(err, amove.ErrNotFound) || errors.Is(err, provider.ErrNotFound)):
		switch {
		case strings.HasSuffix(oe.op, " transfer"):
			return fmt.Sprintf("transfer %q does not exist (or is another user's): see amove transfers list", oe.account)
		case oe.key != "":
			return fmt.Sprintf("%q does not exist in bucket %q on account %q (or the bucket does not): check with amove ls %s:%s/", oe.key, oe.bucket, oe.account, oe.account, oe.bucket)
		case oe.bucket != "":
			return fmt.Sprintf("bucket %q does not exist on account %q: see its buckets with amove ls %s:", oe.bucket, oe.account, oe.account)
		}
		return fmt.Sprintf("cannot %s: not found", doing)
	case errors.Is(err, provider.ErrUnauthenticated):
		return fmt.Sprintf("cannot %s: the provider rejected the account's credentials; check them with amove accounts test, add the account again with new keys", doing)
	case errors.Is(err, amove.ErrUnauthorized):
		return fmt.Sprintf("cannot %s: the store does not accept the user; check --user (default admin)", doing)
	case errors.Is(err, provider.ErrPermission):
		return fmt.Sprintf("cannot %s: the provider denies it to the account's credentials; give them the permission", doing)
	case errors.Is(err, amove.ErrForbidden):
		return fmt.Sprintf("cannot %s: the user may not (an admin may: --user)", doing)
	case errors.Is(err, transfer.ErrExists):
		return fmt.Sprintf("cannot %s: the local file exists; add --overwrite to replace it", doing)
	case errors.Is(err, provider.ErrExists):
		return fmt.Sprintf("cannot %s: it already exists", doing)
	case errors.Is(err, provider.ErrRateLimited):
		return fmt.Sprintf("cannot %s: the provider rate-limits the account; try again later or lower --concurrency", doing)
	case errors.Is(err, transfer.ErrChecksumMismatch):
		return fmt.Sprintf("cannot %s: the bytes stored differ from those sent (checksum mismatch); run it again", doing)
	case errors.Is(err, transfer.ErrBadState):
		return fmt.Sprintf("cannot %s: not in its current state (see amove transfers show ID); a transfer running in another process is controlled there", doing)
	case errors.As(err, &ne):
		return fmt.Sprintf("cannot %s: cannot reach the provider (%v); check the account's endpoint and the network", doing, ne.Err)
	case errors.As(err, &se):
		return fmt.Sprintf("cannot open the store %s: %v; check --dsn and --key-file", se.dsn, se.err)
	case errors.As(err, &pth):
		return fmt.Sprintf("cannot %s: %s: %v", doing, pth.Path, pth.Err)
	case errors.As(err, &ae):
		// Message is what the Client says is safe to show; the cause
		// (a provider's text) only under -v.
		if hasOp {
			return fmt.Sprintf("cannot %s: %s", doing, ae.Message)
		}
		return ae.Message
	case hasOp:
		return fmt.Sprintf("cannot %s (run with -v for the provider's details)", doing)
	}
	return err.Error()
}

// storeError is a store or key file the CLI could not open.
type storeError struct {
	dsn string
	err error
}

func (e *storeError) Error() string { return "open the store " + e.dsn + ": " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }
