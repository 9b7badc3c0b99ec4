package httpapi

import (
	"errors"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/transfer"
)

type transferID struct {
	TransferID string `json:"transferId"`
}

func (s *Server) uploadObject(w http.ResponseWriter, r *http.Request) error {
	var in uploadRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.StorageName == "" {
		return invalid("storageName is required")
	}
	local, err := s.localPath(in.LocalFilePath, true)
	if err != nil {
		return err
	}
	if err := existing(local); err != nil {
		return err
	}
	name := in.Name
	if name == "" {
		name = filepath.Base(local)
	}
	if strings.Contains(name, "/") {
		return invalid("name must not contain '/'")
	}
	// The id of the request is not used: the agent always makes a new one,
	// as the spec allows, so ids can never collide.
	id, err := s.c.Upload(r.Context(), principalFrom(r.Context()), amove.UploadRequest{
		AccountID: in.CloudAccount.ID, Bucket: in.StorageName, Key: listPrefix(in.UploadPath) + name, LocalPath: local,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, transferID{id})
	return nil
}

func (s *Server) downloadObject(w http.ResponseWriter, r *http.Request) error {
	var in downloadRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	switch {
	case in.StorageName == "":
		return invalid("storageName is required")
	case in.ObjectKey == "" && in.ObjectType != objectDirectory:
		return invalid("objectKey is required")
	case in.ObjectType != 0 && in.ObjectType != objectFile && in.ObjectType != objectDirectory:
		return invalid("objectType must be 1 (file) or 2 (directory)")
	}
	dir, err := s.localPath(in.DownloadPath, false)
	if err != nil {
		return err
	}
	key, local := in.ObjectKey, dir
	if in.ObjectType == objectDirectory {
		key = listPrefix(key)
		base := path.Base(strings.TrimSuffix("/"+key, "/"))
		// Fix (tests): a prefix ending in ".." ("..", "a/../") made base
		// "..", and the download went to the parent of downloadPath,
		// outside the roots. The root itself ("" prefix) stays allowed.
		if base == ".." || base == "." {
			return invalid("objectKey must not end in '.' or '..'")
		}
		local = filepath.Join(dir, base)
	} else {
		name := in.Name
		if name == "" {
			name = path.Base(key)
		}
		if !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) {
			return invalid("name must be a plain file name")
		}
		local = filepath.Join(dir, name)
	}
	id, err := s.c.Download(r.Context(), principalFrom(r.Context()), amove.DownloadRequest{
		AccountID: in.CloudAccount.ID, Bucket: in.StorageName, Key: key, LocalPath: local, Overwrite: in.Overwrite,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, transferID{id})
	return nil
}

// transferErr applies the spec's statuses: 404 for an unknown id, 400 when
// the transfer is in a state that does not allow the operation.
func transferErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, amove.ErrNotFound):
		return &httpError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "unknown transfer id"}
	case errors.Is(err, transfer.ErrBadState):
		return &httpError{status: http.StatusBadRequest, code: "TRANSFER", msg: message(err)}
	}
	return err
}

// control checks the spec's state rules before acting, so the answer is
// the documented 400 and not whatever the engine would say.
func (s *Server) control(w http.ResponseWriter, r *http.Request, allowed func(transfer.State) bool, why string,
	act func(*http.Request, amove.Principal, string) error) error {
	p, id := principalFrom(r.Context()), r.PathValue("transferId")
	st, err := s.c.TransferStatus(r.Context(), p, id)
	if err != nil {
		return transferErr(err)
	}
	if !allowed(st.State) {
		return badRequest("transfer is " + string(st.State) + ": " + why)
	}
	if err := act(r, p, id); err != nil {
		return transferErr(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) pauseTransfer(w http.ResponseWriter, r *http.Request) error {
	return s.control(w, r, func(st transfer.State) bool { return st == transfer.Running || st == transfer.Pending },
		"only a running or initiating transfer can be paused",
		func(r *http.Request, p amove.Principal, id string) error {
			return s.c.PauseTransfer(r.Context(), p, id)
		})
}

func (s *Server) resumeTransfer(w http.ResponseWriter, r *http.Request) error {
	return s.control(w, r, func(st transfer.State) bool { return st == transfer.Paused },
		"only a paused transfer can be resumed",
		func(r *http.Request, p amove.Principal, id string) error {
			return s.c.ResumeTransfer(r.Context(), p, id)
		})
}

func (s *Server) cancelTransfer(w http.ResponseWriter, r *http.Request) error {
	return s.control(w, r, func(st transfer.State) bool { return st != transfer.Completed && st != transfer.Cancelled },
		"a completed or cancelled transfer cannot be cancelled",
		func(r *http.Request, p amove.Principal, id string) error {
			return s.c.CancelTransfer(r.Context(), p, id)
		})
}

func (s *Server) transferStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.c.TransferStatus(r.Context(), principalFrom(r.Context()), r.PathValue("transferId"))
	if err != nil {
		return transferErr(err)
	}
	writeJSON(w, http.StatusOK, statusOut(st))
	return nil
}

func (s *Server) allTransfers(w http.ResponseWriter, r *http.Request) error {
	list, err := s.c.ListTransfers(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	out := make([]transferStatus, len(list))
	for i, st := range list {
		out[i] = statusOut(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
