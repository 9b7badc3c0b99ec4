package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/amove/amove-go"
)

// uploadFromForm streams a browser's multipart upload to
// tmp/{cloudAccountId}/{storageName}/ under the agent's private staging
// folder and starts its upload; the staged file is removed when the
// transfer ends. The form is bounded: at most maxFormParts parts, one file,
// fields of at most maxFormField bytes, Options.MaxFormBytes in all, and a body
// that sends nothing for the stall timeout is given up.
func (s *Server) uploadFromForm(w http.ResponseWriter, r *http.Request) error {
	if s.stagingErr != nil {
		return errStagingRefused
	}
	// Checked again before each upload: the folder may have been swapped
	// for a link since New accepted it.
	if err := checkStaging(s.tempDir); err != nil {
		s.log.Error("httpapi: form upload refused", "err", err)
		return errStagingRefused
	}
	body := newStallReader(w, r.Body, s.stallTimeout)
	r.Body = http.MaxBytesReader(w, io.NopCloser(body), s.maxForm)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("the body must be multipart/form-data")
	}
	incoming := filepath.Join(s.tempDir, "incoming")
	if err := os.MkdirAll(incoming, 0o700); err != nil {
		return err
	}
	fields := map[string]string{}
	var staged, fileName string
	var size int64
	defer func() {
		if staged != "" {
			os.Remove(staged)
		}
	}()
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return formErr(err, body)
		}
		if parts == maxFormParts {
			return invalid(fmt.Sprintf("the form has more than %d parts", maxFormParts))
		}
		name := part.FormName()
		if name == "file" {
			if staged != "" {
				return badRequest("only one file per request")
			}
			// CreateTemp makes the file 0600, in a folder only the agent
			// may enter.
			f, err := os.CreateTemp(incoming, "form-*")
			if err != nil {
				return err
			}
			staged, fileName = f.Name(), part.FileName()
			size, err = io.Copy(f, part)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return formErr(err, body)
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return formErr(err, body)
		}
		if len(v) > maxFormField {
			return invalid(fmt.Sprintf("form field %q is larger than %d KiB", name, maxFormField>>10))
		}
		fields[name] = string(v)
	}
	body.done()
	if staged == "" || size == 0 {
		return badRequest("the file is missing or empty")
	}
	var acct cloudAccount
	if err := json.Unmarshal([]byte(fields["cloudAccountJson"]), &acct); err != nil {
		return invalid("cloudAccountJson is not a CloudAccount")
	}
	storage := fields["storageName"]
	if !safeElement(acct.ID) || !safeElement(storage) {
		return invalid("cloudAccountJson.id and storageName must be plain names")
	}
	name := filepath.Base(filepath.FromSlash(strings.ReplaceAll(fileName, `\`, "/")))
	if !safeElement(name) {
		name = "upload"
	}
	dir := filepath.Join(s.tempDir, "tmp", acct.ID, storage)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A unique name per upload: two uploads of one file name must not share
	// a staging file.
	final, err := os.CreateTemp(dir, "*-"+name)
	if err != nil {
		return err
	}
	final.Close()
	if err := os.Rename(staged, final.Name()); err != nil {
		os.Remove(final.Name())
		return err
	}
	staged = ""
	id, err := s.c.Upload(r.Context(), principalFrom(r.Context()), amove.UploadRequest{
		AccountID: acct.ID, Bucket: storage, Key: listPrefix(fields["uploadPath"]) + name, LocalPath: final.Name(),
	})
	if err != nil {
		os.Remove(final.Name())
		return err
	}
	s.hub.removeWhenDone(principalFrom(r.Context()), id, final.Name())
	writeJSON(w, http.StatusOK, transferID{id})
	return nil
}

// safeElement reports whether s can be one path element under the temp dir.
func safeElement(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 255 && !strings.ContainsAny(s, "/\\\x00") && filepath.IsLocal(s)
}

var errStagingRefused = &httpError{status: http.StatusServiceUnavailable, code: "SECURITY",
	msg: "the agent's staging folder is not private to it; see the agent's log"}

// formErr maps a failure to read the form: too large, stalled, or broken.
func formErr(err error, body *stallReader) error {
	var me *http.MaxBytesError
	switch {
	case errors.As(err, &me):
		return invalid("the upload is larger than this agent accepts")
	case body.stalled:
		return &httpError{status: http.StatusRequestTimeout, code: "DEFAULT",
			msg: fmt.Sprintf("the upload sent nothing for %s", body.d)}
	}
	return badRequest("malformed multipart body")
}
