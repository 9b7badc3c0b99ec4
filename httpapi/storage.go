package httpapi

import (
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// listBuckets takes the full CloudAccount. With an id it lists a stored
// account the caller sees; without one (and with credentials) it tries the
// credentials without storing them, which the spec allows without a token.
func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request) error {
	var in cloudAccount
	if err := decode(r, &in); err != nil {
		return err
	}
	withRegion, err := queryBool(r, "includeRegion", false)
	if err != nil {
		return err
	}
	var bs []provider.Bucket
	if in.ID == "" {
		n, cerr := in.newAccount()
		if cerr != nil {
			return cerr
		}
		bs, err = s.c.ProbeBuckets(r.Context(), n, withRegion)
	} else {
		bs, err = s.buckets(r, in.ID, withRegion)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bucketsOut(bs))
	return nil
}

func (s *Server) buckets(r *http.Request, id string, withRegion bool) ([]provider.Bucket, error) {
	p := principalFrom(r.Context())
	if withRegion {
		return s.c.ListBucketsWithRegion(r.Context(), p, id)
	}
	return s.c.ListBuckets(r.Context(), p, id)
}

func (s *Server) hostedListBuckets(w http.ResponseWriter, r *http.Request) error {
	var in hostedBucketsRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	withRegion := in.IncludeRegion == nil || *in.IncludeRegion // default true
	bs, err := s.buckets(r, in.CloudAccountID, withRegion)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bucketsOut(bs))
	return nil
}

// listRequest is list_objects' request (agent) and body (hosted).
type listRequest struct {
	CloudAccountID    string `json:"cloudAccountId"`
	ID                string `json:"id"`
	BucketName        string `json:"bucketName" openapi:"required"`
	Path              string `json:"path"`
	ContinuationToken string `json:"continuationToken"`
	Count             int    `json:"count"`
}

func (s *Server) listObjects(w http.ResponseWriter, r *http.Request) error {
	var in listObjectsRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	return s.list(w, r, in.Account.ID, in.Request)
}

func (s *Server) hostedListObjects(w http.ResponseWriter, r *http.Request) error {
	var in listRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	return s.list(w, r, in.CloudAccountID, in)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, accountID string, in listRequest) error {
	if in.BucketName == "" {
		return invalid("bucketName is required")
	}
	if in.Count < 0 || in.Count > 1000 {
		return invalid("count must be between 1 and 1000")
	}
	if in.Count == 0 {
		in.Count = 1000
	}
	page, err := s.c.ListObjects(r.Context(), principalFrom(r.Context()), accountID, in.BucketName, provider.ListOptions{
		Prefix: listPrefix(in.Path), Delimiter: "/", Token: in.ContinuationToken, MaxKeys: in.Count, FolderID: in.ID,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, objectsOut(page))
	return nil
}

// objectRequest is the body shared by the single-object endpoints.
type objectRequest struct {
	CloudAccount    cloudAccount `json:"cloudAccount"`
	CloudAccountID  string       `json:"cloudAccountId"`
	ID              string       `json:"id"`
	StorageName     string       `json:"storageName" openapi:"required"`
	Key             string       `json:"key" openapi:"required"`
	ExpireHours     *int         `json:"expireHours"`
	ForceToDownload bool         `json:"forceToDownload"`
	ContentType     string       `json:"contentType"`
	Email           string       `json:"email"`
	Note            string       `json:"note"`
}

func (o objectRequest) accountID() string {
	if o.CloudAccountID != "" {
		return o.CloudAccountID
	}
	return o.CloudAccount.ID
}

// objectID is the provider's id of the object to sign: a download names an
// existing object, which id identifies on providers with ids; an upload
// names a new one, which has no id yet, so id is not used.
func (o objectRequest) objectID(method string) string {
	if method == http.MethodGet {
		return o.ID
	}
	return ""
}

// expiry reads expireHours: 24 by default, at most 7 days (the longest any
// provider signs for).
func (o objectRequest) expiry() (time.Duration, error) {
	h := 24
	if o.ExpireHours != nil {
		h = *o.ExpireHours
	}
	if h < 1 || h > 168 {
		return 0, invalid("expireHours must be between 1 and 168")
	}
	return time.Duration(h) * time.Hour, nil
}

func (o objectRequest) check() error {
	switch {
	case o.StorageName == "":
		return invalid("storageName is required")
	case o.Key == "":
		return invalid("key is required")
	}
	return nil
}

func (s *Server) presign(r *http.Request, in objectRequest, method string) (string, error) {
	if err := in.check(); err != nil {
		return "", err
	}
	exp, err := in.expiry()
	if err != nil {
		return "", err
	}
	return s.c.SignedURL(r.Context(), principalFrom(r.Context()), in.accountID(), in.StorageName, in.Key,
		provider.PresignOptions{Method: method, Expiry: exp, ForceDownload: in.ForceToDownload, ContentType: in.ContentType,
			ObjectID: in.objectID(method)})
}

func (s *Server) downloadURL(w http.ResponseWriter, r *http.Request) error {
	var in objectRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	in.ContentType = "" // a download answers with the object's own type
	u, err := s.presign(r, in, http.MethodGet)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) uploadURL(w http.ResponseWriter, r *http.Request) error {
	var in objectRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	in.ForceToDownload = false
	u, err := s.presign(r, in, http.MethodPut)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) sendDownloadURL(w http.ResponseWriter, r *http.Request) error {
	var in objectRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	addr, err := mail.ParseAddress(in.Email)
	if err != nil || addr.Name != "" || strings.ContainsAny(in.Email, "\r\n") {
		return invalid("email is not a valid address")
	}
	if len(in.Note) > 2000 {
		return invalid("note is longer than 2000 characters")
	}
	if strings.ContainsFunc(in.Note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) {
		return invalid("note must be plain text")
	}
	if s.mailer == nil {
		return invalid("this agent has no mail server configured (see amove serve -smtp)")
	}
	// The URL is one the agent makes, for an object the caller may read:
	// never a URL from the request.
	u, err := s.presign(r, in, http.MethodGet)
	if err != nil {
		return err
	}
	if ok, wait := s.mailRate.allow(principalFrom(r.Context()).UserID, time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		return &httpError{status: http.StatusTooManyRequests, code: "RATE_LIMIT",
			msg: "too many download links mailed; try again later"}
	}
	exp, _ := in.expiry()
	body := fmt.Sprintf("A file was shared with you: %s\n\nDownload it here (the link expires in %s):\n%s\n",
		in.Key, exp, u)
	if in.Note != "" {
		body = in.Note + "\n\n" + body
	}
	if err := s.mailer.Send(r.Context(), addr.Address, "A file was shared with you: "+oneLine(in.Key), body); err != nil {
		s.log.Error("httpapi: sending mail", "err", err)
		return &amove.Error{Code: amove.CodeDefault, Message: "the mail server refused the message"}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// oneLine keeps a user-supplied string from adding mail headers.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request) error {
	var in objectRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if err := s.c.DeleteID(r.Context(), principalFrom(r.Context()), in.accountID(), in.StorageName, in.Key, in.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) createFolder(w http.ResponseWriter, r *http.Request) error {
	var in createFolderRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	name := strings.Trim(in.FolderName, "/")
	switch {
	case in.StorageName == "":
		return invalid("storageName is required")
	case name == "" || strings.Contains(name, "/") || name == "." || name == "..":
		return invalid("folderName must be one non-empty path element")
	}
	key := listPrefix(in.Path) + name + "/"
	if err := s.c.CreateFolder(r.Context(), principalFrom(r.Context()), in.CloudAccount.ID, in.StorageName, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
