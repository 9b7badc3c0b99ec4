package frameio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

// mediaType is the media_type a file is created with: the caller's
// content type, else the one its extension implies, without parameters.
func mediaType(name, contentType string) string {
	ct := contentType
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(name))
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return "application/octet-stream"
}

// Upload implements the tree backend: it creates the file, PUTs its bytes
// to the upload URLs Frame.io answered with, and then deletes the file
// existing named the same key. A failed upload deletes the file it created.
func (s backend) Upload(ctx context.Context, parent, name string, existing *tree.Entry, r io.Reader, size int64, opts provider.WriteOptions) (tree.Entry, error) {
	r = ctxReader{ctx, r}
	if size < 0 {
		spooled, n, done, err := spool(r)
		if err != nil {
			return tree.Entry{}, err
		}
		defer done()
		r, size = spooled, n
	}
	mt := mediaType(name, opts.ContentType)
	p, err := s.accountPath(ctx, "folders", parent, "files")
	if err != nil {
		return tree.Entry{}, err
	}
	var res struct {
		Data asset `json:"data"`
	}
	body := map[string]any{"data": map[string]any{"name": name, "media_type": mt, "file_size": size}}
	if err := s.do(ctx, http.MethodPost, p, body, false, &res); err != nil {
		return tree.Entry{}, err
	}
	f := res.Data
	if f.ID == "" {
		return tree.Entry{}, errors.New("frameio: file created without an id")
	}
	created := tree.Entry{ID: f.ID}
	ok := false
	defer func() {
		if !ok {
			// Nothing half-written stays behind, also when ctx is done.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := s.Remove(cctx, created); err != nil && !errors.Is(err, provider.ErrNotFound) {
				s.log.Warn("frameio: could not delete an unfinished upload", "file", f.ID, "err", err)
			}
		}
	}()
	if err := s.sendParts(ctx, f, mt, r, size); err != nil {
		return tree.Entry{}, err
	}
	// No commit: Frame.io assembles the parts by itself. Read the file
	// back for what it stored.
	got, err := s.file(ctx, f.ID, false)
	if err != nil {
		return tree.Entry{}, err
	}
	if got.FileSize != size {
		return tree.Entry{}, fmt.Errorf("%w: Frame.io stored %d bytes, sent %d", provider.ErrChecksum, got.FileSize, size)
	}
	ok = true
	e := entry(got)
	if got.MediaType == "" {
		e.ContentType = mt
	}
	s.names.added(parent, e)
	if existing != nil && existing.ID != e.ID {
		if err := s.Remove(ctx, *existing); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return tree.Entry{}, fmt.Errorf("frameio: the new file is stored, the old one of that name not deleted: %w", err)
		}
	}
	return e, nil
}

// sendParts PUTs the file's bytes to its upload URLs, in order, each with
// exactly its size, the file's media type as Content-Type and
// x-amz-acl: private (the headers the URLs are signed for).
func (s backend) sendParts(ctx context.Context, f asset, mt string, r io.Reader, size int64) error {
	var total, biggest int64
	for _, u := range f.UploadURLs {
		if u.Size <= 0 || u.URL == "" {
			return fmt.Errorf("frameio: upload URL without size or url for file %s", f.ID)
		}
		total += u.Size
		biggest = max(biggest, u.Size)
	}
	if total != size {
		return fmt.Errorf("frameio: upload URLs of file %s take %d bytes, the file has %d", f.ID, total, size)
	}
	buf := make([]byte, biggest)
	for i, u := range f.UploadURLs {
		part := buf[:u.Size]
		if _, err := io.ReadFull(r, part); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("frameio: reading part %d of %s: %w", i+1, f.ID, err)
		}
		err := retry(ctx, true, func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.URL, bytes.NewReader(part))
			if err != nil {
				return err
			}
			req.ContentLength = u.Size
			req.Header.Set("Content-Type", mt)
			req.Header.Set("x-amz-acl", "private")
			resp, err := s.plain.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return checkResponse(resp, fmt.Sprintf("upload part %d of %s", i+1, f.ID))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// spool reads all of r, in memory up to spoolMemory and into a temporary
// file beyond, and returns it with its size; done removes the file.
func spool(r io.Reader) (io.Reader, int64, func(), error) {
	head, err := io.ReadAll(io.LimitReader(r, spoolMemory))
	if err != nil {
		return nil, 0, nil, err
	}
	if len(head) < spoolMemory {
		return bytes.NewReader(head), int64(len(head)), func() {}, nil
	}
	f, err := os.CreateTemp("", "amove-frameio-*")
	if err != nil {
		return nil, 0, nil, err
	}
	done := func() {
		f.Close()
		os.Remove(f.Name())
	}
	n, err := io.Copy(f, io.MultiReader(bytes.NewReader(head), r))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		done()
		return nil, 0, nil, err
	}
	return f, n, done, nil
}

// ctxReader ends a read loop when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
