package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/s3"
	"github.com/amove/amove-go/transfer"
)

// TestS3UploadSmallFilesCRC: many small files (an empty one among them)
// go up in single PUTs that carry their CRC32C; the job reports them
// verified, every object keeps the CRC32C of its local file, and its bytes
// are the file's.
func TestS3UploadSmallFilesCRC(t *testing.T) {
	env := testenv.RequireS3(t)
	st := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, st)
	e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Concurrency: 8, PartSize: 8 << 20})
	defer e.Close()
	dir := t.TempDir()
	sizes := map[string]int64{"empty": 0, "one": 1}
	for k := range 40 {
		sizes[fmt.Sprintf("d%d/f%02d", k%3, k)] = int64(k*2311 + 100)
	}
	sizes["one-mib"] = 1 << 20
	for name, size := range sizes {
		makeFile(t, filepath.Join(dir, name), size, uint64(size))
	}
	id := startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: dir, Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "up/"}})
	if s := mustComplete(t, e, id); !s.ChecksumVerified || s.FilesDone != len(sizes) {
		t.Fatalf("%d of %d files, verified %v", s.FilesDone, len(sizes), s.ChecksumVerified)
	}
	for name := range sizes {
		local, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		key := "up/" + name
		o, err := st.Stat(context.Background(), bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if want := provider.FormatCRC32C(crc32.Checksum(local, provider.CRC32C)); o.Checksums.CRC32C != want {
			t.Errorf("%s: object CRC32C %q, local file %s", key, o.Checksums.CRC32C, want)
		}
		if got, want := objectSHA256(t, st, bucket, key), fileSHA256(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s: object bytes differ from the file", key)
		}
	}
}

// damagedPuts changes the first byte of every body it writes once the
// driver has hashed it (the body's second rewind), so the server receives
// bytes other than the ones the CRC32C sent with them describes.
type damagedPuts struct{ *s3.Storage }

func (d damagedPuts) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, o provider.WriteOptions) (provider.Object, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return provider.Object{}, err
	}
	return d.Storage.Write(ctx, bucket, key, &damageOnRewind{ReadSeeker: bytes.NewReader(b), b: b}, size, o)
}

type damageOnRewind struct {
	io.ReadSeeker
	b       []byte
	rewinds int
}

func (d *damageOnRewind) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart {
		if d.rewinds++; d.rewinds == 2 && len(d.b) > 0 {
			d.b[0] ^= 0xff
		}
	}
	return d.ReadSeeker.Seek(off, whence)
}

// TestS3UploadDamagedFails: a small file whose bytes change between the
// checksum the driver sends and the bytes it sends is refused by the
// server every time: the transfer fails with a checksum error and leaves
// no object.
func TestS3UploadDamagedFails(t *testing.T) {
	env := testenv.RequireS3(t)
	st := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, st)
	e := transfer.New(fastRetries(transfer.Options{Open: accounts{"s3": damagedPuts{st}}.open, Concurrency: 2, PartSize: 8 << 20}))
	defer e.Close()
	file := filepath.Join(t.TempDir(), "f")
	makeFile(t, file, 64<<10, 9)
	id := startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: file, Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "f"}})
	s := wait(t, e, id)
	if s.State != transfer.Failed || !strings.Contains(s.Error, "checksum") || s.ChecksumVerified {
		t.Fatalf("upload of damaged bytes: %s %q verified %v; want failed with a checksum error", s.State, s.Error, s.ChecksumVerified)
	}
	if _, err := st.Stat(context.Background(), bucket, "f"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("the refused upload left an object: %v", err)
	}
}
