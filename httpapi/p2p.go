package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// P2P transfers (docs/fastr.md §6): the source server pushes the object to
// the target; the client's engine starts, watches, pauses, resumes and
// cancels the push, and relays the bytes itself when the source cannot
// reach the target ("TURN fallback"; the status says so in mode and
// relayReason).

type p2pRequest struct {
	SourceAccount   cloudAccount  `json:"sourceAccount" openapi:"required"`
	TargetAccount   *cloudAccount `json:"targetAccount"`
	SourceBucket    string        `json:"sourceBucket" openapi:"required"`
	SourcePath      string        `json:"sourcePath" openapi:"required"`
	TargetServerURL string        `json:"targetServerUrl" openapi:"required"`
	TargetBucket    string        `json:"targetBucket" openapi:"required"`
	TargetPath      string        `json:"targetPath" openapi:"required"`
	Overwrite       bool          `json:"overwrite"`
	ChunkSizeMB     int           `json:"chunkSizeMB"`
}

// p2pStatus is the spec's P2PTransferStatusResponse, plus how the bytes
// travel (mode, relayReason) and how often the push was restarted.
type p2pStatus struct {
	TransferID         string     `json:"transferId"`
	Status             string     `json:"status" enum:"pending,running,paused,completed,failed,cancelled"`
	TotalBytes         int64      `json:"totalBytes"`
	TransferredBytes   int64      `json:"transferredBytes"`
	ProgressPercentage int        `json:"progressPercentage"`
	StartTime          time.Time  `json:"startTime"`
	EndTime            *time.Time `json:"endTime"`
	ErrorMessage       *string    `json:"errorMessage"`
	SourceBucket       string     `json:"sourceBucket"`
	SourcePath         string     `json:"sourcePath"`
	TargetServerURL    string     `json:"targetServerUrl"`
	TargetBucket       string     `json:"targetBucket"`
	TargetPath         string     `json:"targetPath"`
	ChecksumVerified   bool       `json:"checksumVerified"`
	Mode               string     `json:"mode"`
	RelayReason        string     `json:"relayReason,omitempty"`
	Restarts           int        `json:"restarts,omitempty"`
}

func p2pOut(st transfer.Status) p2pStatus {
	out := p2pStatus{TransferID: st.ID, Status: string(st.State), TotalBytes: st.BytesTotal, TransferredBytes: st.BytesDone,
		ProgressPercentage: percent(st), StartTime: st.Created.UTC(),
		SourceBucket: st.Source.Bucket, SourcePath: st.Source.Key,
		TargetServerURL: st.Meta[amove.MetaTargetURL], TargetBucket: st.Dest.Bucket, TargetPath: st.Dest.Key,
		ChecksumVerified: st.ChecksumVerified, Mode: st.Push.Mode, RelayReason: st.Push.RelayReason, Restarts: st.Push.Restarts}
	if st.State.Final() {
		end := st.Updated.UTC()
		out.EndTime = &end
	}
	if st.Error != "" {
		msg := st.Error
		out.ErrorMessage = &msg
	}
	return out
}

func (s *Server) p2pInitiate(w http.ResponseWriter, r *http.Request) error {
	var in p2pRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	inline := in.SourceAccount.inlineCredentials()
	if in.SourceAccount.ID == "" && inline == nil {
		return badRequest("sourceAccount needs an id (a stored account) or serviceUrl, accessKey and secretKey")
	}
	for name, v := range map[string]string{"sourceBucket": in.SourceBucket, "sourcePath": in.SourcePath,
		"targetServerUrl": in.TargetServerURL, "targetBucket": in.TargetBucket, "targetPath": in.TargetPath} {
		if v == "" {
			return badRequest(name + " is required")
		}
	}
	if in.ChunkSizeMB < 0 || int64(in.ChunkSizeMB)<<20 > fastr.MaxPartSize {
		return badRequest(fmt.Sprintf("chunkSizeMB must be from 1 to %d", int64(fastr.MaxPartSize)>>20))
	}
	// Inline keys are used for this transfer only; without them the stored
	// account's are.
	req := amove.P2PTransferRequest{SourceAccountID: in.SourceAccount.ID, SourceCredentials: inline,
		SourceBucket: in.SourceBucket, SourceKey: in.SourcePath,
		TargetURL: in.TargetServerURL, TargetBucket: in.TargetBucket, TargetKey: in.TargetPath,
		ChunkSize: int64(in.ChunkSizeMB) << 20, Overwrite: in.Overwrite}
	if in.TargetAccount != nil {
		req.TargetAccountID = in.TargetAccount.ID
	}
	id, err := s.c.StartP2PTransfer(r.Context(), principalFrom(r.Context()), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, transferStarted{TransferID: id, Message: "P2P transfer initiated successfully"})
	return nil
}

func (s *Server) p2pStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fastrTransfer(r, transfer.P2P)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p2pOut(st))
	return nil
}

func (s *Server) p2pAll(w http.ResponseWriter, r *http.Request) error {
	list, err := s.fastrTransfers(r.Context(), transfer.P2P)
	if err != nil {
		return err
	}
	out := make([]p2pStatus, len(list))
	for i, st := range list {
		out[i] = p2pOut(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// sourceState is what the source server last said about the push ("" when
// it forgot it, as good as stopped), or the transfer's own state when the
// agent relays.
func sourceState(st transfer.Status) string {
	if st.Push.Mode == transfer.PushMode && st.Push.State != "" {
		return string(st.Push.State)
	}
	return string(st.State)
}

// p2pPause answers once the sender has stopped: the source confirmed the
// pause (or the agent's relay has returned).
func (s *Server) p2pPause(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fastrTransfer(r, transfer.P2P)
	if err != nil {
		return err
	}
	if st.State != transfer.Running && st.State != transfer.Pending {
		return badRequest("transfer is " + string(st.State) + ": only a running or initiating transfer can be paused")
	}
	p := principalFrom(r.Context())
	if err := s.c.PauseTransfer(r.Context(), p, st.ID); err != nil {
		return transferErr(err)
	}
	if st, err = s.c.TransferStatus(r.Context(), p, st.ID); err != nil {
		return transferErr(err)
	}
	if st.State != transfer.Paused {
		return badRequest("transfer " + string(st.State) + " before it could be paused")
	}
	if server := sourceState(st); server != string(provider.PushPaused) {
		return badRequest("the pause could not be confirmed: the push is " + server)
	}
	writeJSON(w, http.StatusOK, controlResult{Success: true, Message: "Transfer paused successfully",
		ServerPaused: new(true), ServerStatus: "paused"})
	return nil
}

func (s *Server) p2pResume(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fastrTransfer(r, transfer.P2P)
	if err != nil {
		return err
	}
	if st.State != transfer.Paused {
		return badRequest("transfer is " + string(st.State) + ": only a paused transfer can be resumed")
	}
	p := principalFrom(r.Context())
	if err := s.c.ResumeTransfer(r.Context(), p, st.ID); err != nil {
		return transferErr(err)
	}
	if st, err = s.c.TransferStatus(r.Context(), p, st.ID); err != nil {
		return transferErr(err)
	}
	server := sourceState(st)
	if server == string(transfer.Pending) && st.Push.Mode == transfer.RelayMode {
		server = string(transfer.Running)
	}
	if server != string(provider.PushRunning) && server != string(provider.PushCompleted) {
		return badRequest("the resume could not be confirmed: the push is " + server)
	}
	writeJSON(w, http.StatusOK, controlResult{Success: true, Message: "Transfer resumed successfully",
		ServerResumed: new(true), ServerStatus: server})
	return nil
}

// p2pCancel stops the push on the source (which discards the target
// session) or the agent's relay; serverCancelled says whether the target
// keeps no session.
func (s *Server) p2pCancel(w http.ResponseWriter, r *http.Request) error {
	st, err := s.fastrTransfer(r, transfer.P2P)
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
	if st, err = s.c.TransferStatus(r.Context(), p, st.ID); err != nil {
		return transferErr(err)
	}
	if st.State == transfer.Completed {
		return badRequest("transfer completed before it could be cancelled")
	}
	writeJSON(w, http.StatusOK, controlResult{Success: true, Message: "Transfer cancelled successfully",
		ServerCancelled: new(st.Push.Session == "")})
	return nil
}
