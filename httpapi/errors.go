package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/managed"
)

// StatusValidation is the Amove API's status for every application error.
const StatusValidation = 499

// codeGlobal is the hosted API's code for errors not tied to one field,
// spelt as its spec spells it (hosted delete of an unknown id).
const codeGlobal = "Global"

// httpError is an answer the handler chose itself: a status the spec names
// for a case (400, 404, 501...) with an application code.
type httpError struct {
	status int
	code   string
	msg    string
	// retryAfter, when set, is sent as Retry-After (a 429).
	retryAfter time.Duration
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) error {
	return &httpError{status: http.StatusBadRequest, code: "DEFAULT", msg: msg}
}

func invalid(msg string) error {
	return &httpError{status: StatusValidation, code: "DEFAULT", msg: msg}
}

func notImplemented(what string) error {
	return &httpError{status: http.StatusNotImplemented, code: "NOT_IMPLEMENTED", msg: what}
}

// problem is the error body: ASP.NET Core's ValidationProblemDetails shape,
// as the Amove API sends it.
type problem struct {
	Type   string              `json:"type"`
	Status int                 `json:"status"`
	Errors map[string][]string `json:"errors"`
}

// writeError answers with the error model of docs/errors.md: 401 for
// authentication, 499 for application errors (with an error-code header),
// the chosen status for httpErrors, and 500 with an empty body for anything
// else, so internals never reach the caller.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he)
	case errors.Is(err, amove.ErrRateLimited):
		writeError(w, &httpError{status: http.StatusTooManyRequests, code: string(amove.ErrorCode(err)), msg: message(err), retryAfter: amove.RetryAfter(err)})
	case errors.Is(err, managed.ErrNotConfigured):
		// The one 501 of the managed-storage routes: this agent has no
		// backend for the family (docs/managed-storage.md).
		writeError(w, &httpError{status: http.StatusNotImplemented, code: "NOT_IMPLEMENTED", msg: err.Error()})
	case errors.Is(err, amove.ErrUnauthorized):
		code := string(amove.ErrorCode(err))
		writeError(w, &httpError{status: http.StatusUnauthorized, code: code, msg: message(err)})
	case amove.ErrorCode(err) != "":
		writeError(w, &httpError{status: StatusValidation, code: string(amove.ErrorCode(err)), msg: message(err)})
	default:
		s.log.Error("httpapi: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// message is the caller-safe text of an application error.
func message(err error) string {
	var e *amove.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func writeError(w http.ResponseWriter, e *httpError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("error-code", e.code)
	if e.retryAfter > 0 {
		// Whole seconds, rounded up: a client that waits that long is let in.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(problem{Type: e.code, Status: e.status, Errors: map[string][]string{e.code: {e.msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
