package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/amove/amove-go"
)

// uploadFromForm streams a browser's multipart upload to
// tmp/{cloudAccountId}/{storageName}/ under the agent's temp dir and starts
// its upload; the staged file is removed when the transfer ends.
func (s *Server) uploadFromForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxForm)
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
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return formErr(err)
		}
		name := part.FormName()
		if name == "file" {
			if staged != "" {
				return badRequest("only one file per request")
			}
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
				return formErr(err)
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxJSONBody+1))
		if err != nil {
			return formErr(err)
		}
		if len(v) > maxJSONBody {
			return invalid("form field " + name + " is larger than 1 MiB")
		}
		fields[name] = string(v)
	}
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
	s.hub.removeWhenDone(id, final.Name())
	writeJSON(w, http.StatusOK, transferID{id})
	return nil
}

// safeElement reports whether s can be one path element under the temp dir.
func safeElement(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 255 && !strings.ContainsAny(s, "/\\\x00") && filepath.IsLocal(s)
}

func formErr(err error) error {
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return invalid("the upload is larger than this agent accepts")
	}
	return badRequest("malformed multipart body")
}
