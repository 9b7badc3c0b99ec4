package fastr

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Upload credentials: a key pair scoped to one upload session, derived from
// an account's secret, so a server the account does not trust with its keys
// (the source of a push) can write exactly one object. The scoped secret is
// HMAC-SHA256(secret, "FASTR-UPLOAD\n<uploadId>\n<expires>"), and the access
// key names the scope: "<accessKey>/upload/<uploadId>/<expires>" (Unix
// seconds). Requests signed with it are verified like any other (§1), and
// then may only read the session (GET), append to it (PATCH), complete it
// (POST .../complete) or abort it (DELETE), until it expires.

const scopeUpload = "upload"

// MaxUploadCredential bounds the life of an upload credential: sessions
// are discarded after Options.UploadTTL (default 7 days) anyway.
const MaxUploadCredential = 7 * 24 * time.Hour

// UploadCredential returns a key pair that reaches only upload session
// uploadID, until expires (at most MaxUploadCredential from now). Use it as
// a PushTarget's keys with UploadID set: the source never sees the
// account's secret.
func (c *Client) UploadCredential(uploadID string, expires time.Time) (accessKey, secretKey string, err error) {
	if !validID(uploadID) {
		return "", "", errors.New("fastr: invalid upload id")
	}
	if d := time.Until(expires); d <= 0 || d > MaxUploadCredential {
		return "", "", errors.New("fastr: an upload credential lives from 1s to 7 days")
	}
	exp := expires.Unix()
	return c.accessKey + "/" + scopeUpload + "/" + uploadID + "/" + itoa(exp), scopedSecret(c.secret, uploadID, exp), nil
}

func scopedSecret(secret, uploadID string, expires int64) string {
	return Signature(secret, "FASTR-UPLOAD\n"+uploadID+"\n"+itoa(expires))
}

// uploadScope is a parsed upload credential.
type uploadScope struct {
	accessKey string
	uploadID  string
	expires   int64
}

// parseScope reads "<accessKey>/upload/<id>/<expires>"; a plain access key
// is not a scope.
func parseScope(cred string) (uploadScope, bool) {
	parts := strings.Split(cred, "/")
	n := len(parts)
	if n < 4 || parts[n-3] != scopeUpload || !validID(parts[n-2]) {
		return uploadScope{}, false
	}
	exp, err := strconv.ParseInt(parts[n-1], 10, 64)
	if err != nil || exp <= 0 {
		return uploadScope{}, false
	}
	return uploadScope{accessKey: strings.Join(parts[:n-3], "/"), uploadID: parts[n-2], expires: exp}, true
}

// allows reports whether r addresses the scope's own session.
func (u uploadScope) allows(r *http.Request) bool {
	session := APIPrefix + "/uploads/" + u.uploadID
	switch r.Method {
	case http.MethodGet, http.MethodPatch, http.MethodDelete:
		return r.URL.Path == session
	case http.MethodPost:
		return r.URL.Path == session+"/complete"
	}
	return false
}
