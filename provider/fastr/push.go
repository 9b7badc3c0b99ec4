package fastr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	fastrapi "github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

// Offset-mode sessions (provider.Appender), upload grants
// (provider.UploadGranter) and pushes (provider.Pusher): what the transfer
// engine needs for Fastr server transfers and P2P transfers.

var (
	_ provider.Appender      = (*Storage)(nil)
	_ provider.UploadGranter = (*Storage)(nil)
	_ provider.Pusher        = (*Storage)(nil)
)

// createTimeout bounds creating a session. The call is not cancelled by its
// caller midway: a session the server made but the caller never heard of
// could be neither resumed nor aborted.
const createTimeout = time.Minute

// CreateAppend implements provider.Appender: it opens an upload session in
// offset mode. The request is not cancelled with ctx (up to a minute), since
// a session the server made but the caller never heard of could be neither
// resumed nor aborted.
func (s *Storage) CreateAppend(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer stop()
	u, err := s.c.StartUpload(cctx, fastrapi.CreateUploadRequest{Bucket: bucket, Key: key, ContentType: opts.ContentType,
		Metadata: opts.Metadata})
	if err != nil {
		return provider.Upload{}, mapError(err, bucket+"/"+key)
	}
	return provider.Upload{Bucket: bucket, Key: key, ID: u.ID}, nil
}

// AppendOffset implements provider.Appender: the offset the server has
// committed, where the writer resumes. A session for another key is
// ErrInvalid.
func (s *Storage) AppendOffset(ctx context.Context, u provider.Upload) (int64, error) {
	if err := checkUpload(u); err != nil {
		return 0, err
	}
	info, err := s.c.GetUpload(ctx, u.ID)
	if err != nil {
		return 0, mapError(err, u.Bucket+"/"+u.Key)
	}
	if info.Bucket != u.Bucket || info.Key != u.Key {
		return 0, fmt.Errorf("%w: upload %s is for %s/%s, not %s/%s", provider.ErrInvalid, u.ID, info.Bucket, info.Key, u.Bucket, u.Key)
	}
	return info.Offset, nil
}

// Append implements provider.Appender: it writes chunk at offset and returns
// the new committed offset. When the server expected another offset, the
// error is a provider.OffsetError that says where to resume.
func (s *Storage) Append(ctx context.Context, u provider.Upload, offset int64, chunk []byte) (int64, error) {
	if err := checkUpload(u); err != nil {
		return 0, err
	}
	next, err := s.c.AppendChunk(ctx, u.ID, offset, chunk)
	var e *fastrapi.Error
	if errors.As(err, &e) && e.Code == fastrapi.CodeOffsetMismatch && e.ExpectedOffset != nil {
		return 0, &provider.OffsetError{Committed: *e.ExpectedOffset, Err: err}
	}
	if err != nil {
		return 0, mapError(err, u.Bucket+"/"+u.Key)
	}
	return next, nil
}

// AppendHash: the server hashes what it assembles and refuses another
// SHA-256.
func (s *Storage) AppendHash() provider.Hash { return provider.HashSHA256 }

// CompleteAppend implements provider.Appender: the server assembles the
// object and refuses it (ErrChecksum) unless its SHA-256 is sum; a match
// sets Verified. Checksums of other algorithms are ErrInvalid.
func (s *Storage) CompleteAppend(ctx context.Context, u provider.Upload, sum provider.Checksum) (provider.Object, error) {
	if err := checkUpload(u); err != nil {
		return provider.Object{}, err
	}
	var req fastrapi.CompleteRequest
	switch {
	case sum.Hash == provider.HashSHA256:
		req.SHA256 = strings.ToLower(sum.Value)
	case !sum.IsZero():
		return provider.Object{}, fmt.Errorf("%w: Fastr checks SHA-256, not %s", provider.ErrInvalid, sum.Hash)
	}
	o, err := s.c.CompleteUpload(ctx, u.ID, req)
	var e *fastrapi.Error
	if errors.As(err, &e) && e.Code == fastrapi.CodeBadDigest {
		return provider.Object{}, fmt.Errorf("%w: %s/%s: %w", provider.ErrChecksum, u.Bucket, u.Key, err)
	}
	if err != nil {
		return provider.Object{}, mapError(err, u.Bucket+"/"+u.Key)
	}
	obj := objectFrom(o)
	if req.SHA256 != "" && strings.EqualFold(o.SHA256, req.SHA256) {
		obj.Verified = provider.HashSHA256
	}
	return obj, nil
}

// AbortAppend implements provider.Appender: the server discards the session;
// one already gone is not an error.
func (s *Storage) AbortAppend(ctx context.Context, u provider.Upload) error {
	err := s.AbortMultipart(ctx, u)
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}

// grant is a Fastr upload grant: the target's URL and a key pair scoped to
// one upload session (fastr.Client.UploadCredential), never the account's
// own keys.
type grant struct {
	u      provider.Upload
	target fastrapi.PushTarget
}

func (g *grant) Upload() provider.Upload { return g.u }

func (g *grant) String() string {
	return fmt.Sprintf("fastr upload grant for %s/%s (session %s) on %s", g.u.Bucket, g.u.Key, g.u.ID, g.target.URL)
}

// defaultGrantTTL: a grant lives as long as the session may.
const defaultGrantTTL = fastrapi.MaxUploadCredential

// GrantUpload implements provider.UploadGranter: it opens (or, with
// opts.UploadID, checks) a session on this server and returns a grant that
// carries a key pair scoped to that one session, never the account's own
// keys, so a source server can push into it. Without opts.Overwrite an
// existing key is ErrExists.
func (s *Storage) GrantUpload(ctx context.Context, bucket, key string, opts provider.GrantOptions) (provider.UploadGrant, error) {
	u := provider.Upload{Bucket: bucket, Key: key, ID: opts.UploadID}
	if u.ID != "" {
		if _, err := s.AppendOffset(ctx, u); err != nil {
			return nil, err
		}
	} else {
		if !opts.Overwrite {
			_, err := s.c.Stat(ctx, bucket, key)
			var e *fastrapi.Error
			switch {
			case err == nil:
				return nil, fmt.Errorf("%w: %s/%s exists and overwrite is false", provider.ErrExists, bucket, key)
			case !errors.As(err, &e) || e.Code != fastrapi.CodeNoSuchKey:
				return nil, mapError(err, bucket+"/"+key)
			}
		}
		var err error
		if u, err = s.CreateAppend(ctx, bucket, key, provider.WriteOptions{ContentType: opts.ContentType}); err != nil {
			return nil, err
		}
	}
	ttl := opts.TTL
	if ttl <= 0 || ttl > defaultGrantTTL {
		ttl = defaultGrantTTL
	}
	ak, sk, err := s.c.UploadCredential(u.ID, time.Now().Add(ttl))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	return &grant{u: u, target: fastrapi.PushTarget{URL: s.c.URL(), AccessKey: ak, SecretKey: sk,
		Bucket: bucket, Key: key, UploadID: u.ID}}, nil
}

func pushStatus(st fastrapi.PushStatus) provider.PushStatus {
	out := provider.PushStatus{ID: st.ID, State: provider.PushState(st.Status), TotalBytes: st.TotalBytes,
		TransferredBytes: st.TransferredBytes, UploadID: st.TargetUploadID, Error: st.ErrorMessage,
		Unreachable: st.TargetUnreachable}
	if st.ChecksumVerified {
		out.Verified = provider.HashSHA256
	}
	return out
}

// StartPush implements provider.Pusher: this (source) server pushes the
// object into the session of to, which must be a grant from a Fastr Storage.
// A target the source's policy refuses is ErrUnreachable, so the caller can
// relay the bytes itself.
func (s *Storage) StartPush(ctx context.Context, bucket, key string, to provider.UploadGrant, opts provider.PushOptions) (provider.PushStatus, error) {
	g, ok := to.(*grant)
	if !ok {
		return provider.PushStatus{}, fmt.Errorf("%w: a Fastr server pushes only to a Fastr upload grant, not %T", provider.ErrUnsupported, to)
	}
	st, err := s.c.StartPush(ctx, fastrapi.PushRequest{Bucket: bucket, Key: key, Target: g.target, ChunkSize: opts.ChunkSize})
	var e *fastrapi.Error
	if errors.As(err, &e) && e.Code == fastrapi.CodeAccessDenied && strings.Contains(e.Message, "target not allowed") {
		// The source's AllowPushTarget policy refuses the target.
		return provider.PushStatus{}, fmt.Errorf("%w: %s", provider.ErrUnreachable, e.Message)
	}
	if err != nil {
		return provider.PushStatus{}, mapError(err, "push "+bucket+"/"+key)
	}
	return pushStatus(st), nil
}

// PushStatus implements provider.Pusher: the state and progress of the push
// the source server reports.
func (s *Storage) PushStatus(ctx context.Context, id string) (provider.PushStatus, error) {
	st, err := s.c.PushStatus(ctx, id)
	if err != nil {
		return provider.PushStatus{}, mapError(err, "push "+id)
	}
	return pushStatus(st), nil
}

// PausePush implements provider.Pusher: it returns once the source has
// stopped sending; the session on the target stays, to resume from.
func (s *Storage) PausePush(ctx context.Context, id string) (provider.PushStatus, error) {
	st, err := s.c.PausePush(ctx, id)
	if err != nil {
		return provider.PushStatus{}, mapError(err, "pause push "+id)
	}
	return pushStatus(st), nil
}

// ResumePush implements provider.Pusher: the source continues the push from
// the target's committed offset.
func (s *Storage) ResumePush(ctx context.Context, id string) (provider.PushStatus, error) {
	st, err := s.c.ResumePush(ctx, id)
	if err != nil {
		return provider.PushStatus{}, mapError(err, "resume push "+id)
	}
	return pushStatus(st), nil
}

// CancelPush implements provider.Pusher: the source stops the push and
// aborts the target's upload session.
func (s *Storage) CancelPush(ctx context.Context, id string) (provider.PushStatus, error) {
	st, err := s.c.CancelPush(ctx, id)
	if err != nil {
		return provider.PushStatus{}, mapError(err, "cancel push "+id)
	}
	return pushStatus(st), nil
}
