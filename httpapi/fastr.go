package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/transfer"
)

// Fastr transfers (docs/fastr.md §6): server-to-server transfers, where the
// agent streams the bytes, and P2P transfers (p2p.go), where the source
// server pushes them. Both are transfer jobs of the client's engine; these
// handlers only translate the spec's routes and shapes to amove.Client
// calls.

type serverTransferRequest struct {
	SourceServerURL string `json:"sourceServerUrl" openapi:"required"`
	TargetServerURL string `json:"targetServerUrl" openapi:"required"`
	SourceBucket    string `json:"sourceBucket" openapi:"required"`
	SourcePath      string `json:"sourcePath" openapi:"required"`
	TargetBucket    string `json:"targetBucket" openapi:"required"`
	TargetPath      string `json:"targetPath" openapi:"required"`
	SourceAccountID string `json:"sourceAccountId"`
	TargetAccountID string `json:"targetAccountId"`
	// Metadata is forwarded to the target object as its user metadata.
	Metadata map[string]string `json:"metadata"`
}

// dotnetTime marshals the zero time as .NET's default DateTime, which is
// what the spec shows for a server transfer that has not ended.
type dotnetTime time.Time

func (t dotnetTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte(`"0001-01-01T00:00:00"`), nil
	}
	return time.Time(t).UTC().MarshalJSON()
}

func (t *dotnetTime) UnmarshalJSON(b []byte) error {
	if string(b) == `"0001-01-01T00:00:00"` {
		*t = dotnetTime{}
		return nil
	}
	return (*time.Time)(t).UnmarshalJSON(b)
}

// serverTransferStatus is the spec's FastrServerTransferStatus.
type serverTransferStatus struct {
	TransferID       string     `json:"transferId"`
	Status           string     `json:"status" enum:"pending,running,paused,completed,failed,cancelled"`
	SourceServerURL  string     `json:"sourceServerUrl"`
	TargetServerURL  string     `json:"targetServerUrl"`
	SourceBucket     string     `json:"sourceBucket"`
	SourcePath       string     `json:"sourcePath"`
	TargetBucket     string     `json:"targetBucket"`
	TargetPath       string     `json:"targetPath"`
	StartTime        time.Time  `json:"startTime"`
	EndTime          dotnetTime `json:"endTime"`
	BytesTransferred int64      `json:"bytesTransferred"`
	TotalBytes       int64      `json:"totalBytes"`
	Progress         int        `json:"progress"`
	ErrorMessage     string     `json:"errorMessage"`
	ChecksumVerified bool       `json:"checksumVerified"`
}

func percent(st transfer.Status) int {
	if st.State == transfer.Completed {
		return 100
	}
	if st.BytesTotal <= 0 {
		return 0
	}
	return int(st.BytesDone * 100 / st.BytesTotal)
}

func serverTransferOut(st transfer.Status) serverTransferStatus {
	out := serverTransferStatus{TransferID: st.ID, Status: string(st.State),
		SourceServerURL: st.Meta[amove.MetaSourceURL], TargetServerURL: st.Meta[amove.MetaTargetURL],
		SourceBucket: st.Source.Bucket, SourcePath: st.Source.Key, TargetBucket: st.Dest.Bucket, TargetPath: st.Dest.Key,
		StartTime: st.Created.UTC(), BytesTransferred: st.BytesDone, TotalBytes: st.BytesTotal, Progress: percent(st),
		ErrorMessage: st.Error, ChecksumVerified: st.ChecksumVerified}
	if st.State.Final() {
		out.EndTime = dotnetTime(st.Updated.UTC())
	}
	return out
}

var errUnknownTransfer = &httpError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "unknown transfer id"}

// fastrTransfer is the caller's transfer {transferId} of kind k.
func (s *Server) fastrTransfer(r *http.Request, k transfer.Kind) (transfer.Status, error) {
	st, err := s.c.TransferStatus(r.Context(), principalFrom(r.Context()), r.PathValue("transferId"))
	if err != nil {
		return st, transferErr(err)
	}
	if st.Kind != k {
		return st, errUnknownTransfer
	}
	return st, nil
}

// fastrTransfers lists the caller's transfers of kind k, oldest first.
func (s *Server) fastrTransfers(ctx context.Context, k transfer.Kind) ([]transfer.Status, error) {
	all, err := s.c.ListTransfers(ctx, principalFrom(ctx))
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, st := range all {
		if st.Kind == k {
			out = append(out, st)
		}
	}
	return out, nil
}

func (s *Server) serverTransferInitiate(w http.ResponseWriter, r *http.Request) error {
	var in serverTransferRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	for name, v := range map[string]string{"sourceServerUrl": in.SourceServerURL, "targetServerUrl": in.TargetServerURL,
		"sourceBucket": in.SourceBucket, "sourcePath": in.SourcePath, "targetBucket": in.TargetBucket, "targetPath": in.TargetPath} {
		if v == "" {
			return badRequest(name + " is required")
		}
	}
	id, err := s.c.StartServerTransfer(r.Context(), principalFrom(r.Context()), amove.ServerTransferRequest{Metadata: in.Metadata,
		SourceAccountID: in.SourceAccountID, SourceURL: in.SourceServerURL, SourceBucket: in.SourceBucket, SourceKey: in.SourcePath,
		TargetAccountID: in.TargetAccountID, TargetURL: in.TargetServerURL, TargetBucket: in.TargetBucket, TargetKey: in.TargetPath,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, transferStarted{TransferID: id, Message: "Server transfer initiated", Status: "pending"})
	return nil
}

func (s *Server) serverTransferStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fastrTransfer(r, transfer.ServerTransfer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, serverTransferOut(st))
	return nil
}

// serverTransferCancel: 400 once the transfer is completed or cancelled, as
// the spec says; a failed transfer may still be cancelled, which discards
// its partial upload on the target.
func (s *Server) serverTransferCancel(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fastrTransfer(r, transfer.ServerTransfer)
	if err != nil {
		return err
	}
	if st.State == transfer.Completed || st.State == transfer.Cancelled {
		return badRequest("transfer is " + string(st.State) + ": a completed or cancelled transfer cannot be cancelled")
	}
	p := principalFrom(r.Context())
	if err := s.c.CancelTransfer(r.Context(), p, st.ID); err != nil {
		return transferErr(err)
	}
	if st, err := s.c.TransferStatus(r.Context(), p, st.ID); err == nil && st.State == transfer.Completed {
		return badRequest("transfer completed before it could be cancelled")
	}
	writeJSON(w, http.StatusOK, controlResult{Success: true, Message: "Transfer cancelled successfully"})
	return nil
}

func (s *Server) serverTransferAll(w http.ResponseWriter, r *http.Request) error {
	list, err := s.fastrTransfers(r.Context(), transfer.ServerTransfer)
	if err != nil {
		return err
	}
	out := make([]serverTransferStatus, len(list))
	for i, st := range list {
		out[i] = serverTransferOut(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
