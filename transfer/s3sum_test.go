package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// wrongMD5 reports every MD5 a listing or a HEAD gives as a wrong one: a
// download checked by MD5 fails, one checked by a CRC the server holds
// passes, which tells which digest the engine computed.
type wrongMD5 struct{ provider.Storage }

func spoil(o provider.Object) provider.Object {
	if o.Checksums.MD5 != "" {
		o.Checksums.MD5 = strings.Repeat("0", 32)
	}
	return o
}

func (w wrongMD5) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	o, err := w.Storage.Stat(ctx, bucket, key)
	return spoil(o), err
}

func (w wrongMD5) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	p, err := w.Storage.ListObjects(ctx, bucket, opts)
	for k := range p.Objects {
		p.Objects[k] = spoil(p.Objects[k])
	}
	return p, err
}

// TestS3DownloadCheapestChecksum: objects another tool put on MinIO with a
// full-object CRC32C or CRC64NVME download verified by that CRC (asked for
// with x-amz-checksum-mode on the HEAD or on the GET itself), never by the
// MD5 their ETag and listing give: with every MD5 spoiled they still
// download, verified and identical. An object put without a checksum (an
// MD5 ETag only) is verified by its MD5: spoiled, it fails; as is, it
// downloads verified.
func TestS3DownloadCheapestChecksum(t *testing.T) {
	env := testenv.RequireS3(t)
	st := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, st)
	ctx := context.Background()
	objs := map[string][]byte{
		"crc/small-crc32c": randBytes(11, 100<<10),
		"crc/big-crc64":    randBytes(12, 20<<20+77), // three 8 MiB ranges
		"plain/small":      randBytes(13, 100<<10),
	}
	algs := map[string]types.ChecksumAlgorithm{"crc/small-crc32c": types.ChecksumAlgorithmCrc32c, "crc/big-crc64": types.ChecksumAlgorithmCrc64nvme}
	for key, b := range objs {
		if _, err := st.Client().PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(b), ChecksumAlgorithm: algs[key]}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(d provider.Storage, key string) (transfer.Status, string) {
		t.Helper()
		e := transfer.New(transfer.Options{Open: accounts{"s3": d}.open, Concurrency: 4, PartSize: 8 << 20, MaxAttempts: 1})
		defer e.Close()
		dir := t.TempDir()
		id := startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: key}, LocalPath: dir + "/"})
		return wait(t, e, id), dir
	}
	same := func(dir, rel, key string) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(got, objs[key]) {
			t.Errorf("%s: downloaded bytes differ (%v)", key, err)
		}
	}
	// A prefix (listing: MD5s only) and a single object (HEAD), MD5s spoiled.
	stat, dir := run(wrongMD5{st}, "crc/")
	if stat.State != transfer.Completed || !stat.ChecksumVerified {
		t.Fatalf("CRC objects with spoiled MD5s: %s %q verified %v", stat.State, stat.Error, stat.ChecksumVerified)
	}
	same(dir, "small-crc32c", "crc/small-crc32c")
	same(dir, "big-crc64", "crc/big-crc64")
	stat, dir = run(wrongMD5{st}, "crc/big-crc64")
	if stat.State != transfer.Completed || !stat.ChecksumVerified {
		t.Fatalf("one CRC64NVME object with a spoiled MD5: %s %q verified %v", stat.State, stat.Error, stat.ChecksumVerified)
	}
	same(dir, "big-crc64", "crc/big-crc64")

	// MD5 only: checked by MD5.
	if stat, _ = run(wrongMD5{st}, "plain/"); stat.State != transfer.Failed || !strings.Contains(stat.Error, "checksum mismatch") {
		t.Fatalf("an MD5-only object with a spoiled MD5: %s %q, want a checksum mismatch", stat.State, stat.Error)
	}
	stat, dir = run(st, "plain/")
	if stat.State != transfer.Completed || !stat.ChecksumVerified {
		t.Fatalf("an MD5-only object: %s %q verified %v", stat.State, stat.Error, stat.ChecksumVerified)
	}
	same(dir, "small", "plain/small")
}

// wrongParts reports the multipart ETag digest (provider.HashMD5Parts) of
// every object as a wrong one.
type wrongParts struct{ provider.Storage }

// Unwrap keeps the driver's capabilities (PartLayouter) visible.
func (w wrongParts) Unwrap() provider.Storage { return w.Storage }

func spoilParts(o provider.Object) provider.Object {
	if o.Checksums.MD5Parts != "" {
		o.Checksums.MD5Parts = strings.Repeat("0", 32)
	}
	return o
}

func (w wrongParts) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	o, err := w.Storage.Stat(ctx, bucket, key)
	return spoilParts(o), err
}

func (w wrongParts) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	p, err := w.Storage.ListObjects(ctx, bucket, opts)
	for k := range p.Objects {
		p.Objects[k] = spoilParts(p.Objects[k])
	}
	return p, err
}

// putMultipart uploads b as a multipart object in parts of partSize the
// way other tools do: no checksum but each part's Content-MD5, so the
// object's only digest is its "md5-of-md5s-N" ETag.
func putMultipart(t *testing.T, c *awss3.Client, bucket, key string, b []byte, partSize int) {
	t.Helper()
	ctx := context.Background()
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for n, off := int32(1), 0; off < len(b); n, off = n+1, off+partSize {
		out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(b[off:min(off+partSize, len(b))])})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
}

// TestS3DownloadMultipartETag: objects another tool uploaded in parts,
// whose only digest is their multipart ETag, download verified: fetched
// along their own parts (one HEAD for the layout), each part MD5-hashed as
// it streams, and the MD5 of the MD5s compared with the ETag. With the
// ETag's digest spoiled they fail with a checksum mismatch, which shows
// that check is the one made; with NoDownloadChecksums nothing is checked.
func TestS3DownloadMultipartETag(t *testing.T) {
	env := testenv.RequireS3(t)
	st := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, st)
	objs := map[string][]byte{
		"mp/three": randBytes(21, 11<<20+7), // 5 MiB, 5 MiB, 1 MiB + 7
		"mp/one":   randBytes(22, 100<<10),  // one part: "<md5 of its md5>-1"
	}
	for key, b := range objs {
		putMultipart(t, st.Client(), bucket, key, b, 5<<20)
	}
	for key := range objs {
		o, err := st.Stat(context.Background(), bucket, key)
		if err != nil || o.Checksums.MD5Parts == "" || o.Checksums.MD5 != "" {
			t.Fatalf("Stat %s: %+v, %v: want a multipart ETag and no MD5", key, o.Checksums, err)
		}
	}
	run := func(d provider.Storage, key string, noVerify bool) (transfer.Status, string) {
		t.Helper()
		e := transfer.New(transfer.Options{Open: accounts{"s3": d}.open, Concurrency: 4, PartSize: 8 << 20, MaxAttempts: 1, NoDownloadChecksums: noVerify})
		defer e.Close()
		dir := t.TempDir()
		id := startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: key}, LocalPath: dir + "/"})
		return wait(t, e, id), dir
	}
	for _, key := range []string{"mp/", "mp/three", "mp/one"} {
		stat, dir := run(st, key, false)
		if stat.State != transfer.Completed || !stat.ChecksumVerified {
			t.Fatalf("%s: %s %q verified %v", key, stat.State, stat.Error, stat.ChecksumVerified)
		}
		for k, b := range objs {
			if !strings.HasPrefix(k, key) {
				continue
			}
			if got, err := os.ReadFile(filepath.Join(dir, filepath.Base(k))); err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s: downloaded bytes differ (%v)", k, err)
			}
		}
		if stat, _ := run(wrongParts{st}, key, false); stat.State != transfer.Failed || !strings.Contains(stat.Error, "checksum mismatch") {
			t.Errorf("%s with a spoiled multipart ETag: %s %q, want a checksum mismatch", key, stat.State, stat.Error)
		}
		if stat, _ := run(wrongParts{st}, key, true); stat.State != transfer.Completed || stat.ChecksumVerified {
			t.Errorf("%s, no checks: %s %q verified %v, want completed unverified", key, stat.State, stat.Error, stat.ChecksumVerified)
		}
	}
}

// TestS3DownloadMD5OnlyByteFlip: objects whose only digest is an MD5 (a
// multipart ETag of 13 parts, and 24 single-part objects) download
// verified and identical with many MD5 streams open at once, so that they
// share the SIMD hasher's lanes; then a proxy flips one byte of one GET
// and the download fails on the checksum, leaving no file in place for
// the damaged object.
func TestS3DownloadMD5OnlyByteFlip(t *testing.T) {
	env := testenv.RequireS3(t)
	direct := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, direct)
	objs := map[string][]byte{"big/mp": randBytes(41, 13*(5<<20)-11)}
	putMultipart(t, direct.Client(), bucket, "big/mp", objs["big/mp"], 5<<20)
	for k := range 24 {
		key := fmt.Sprintf("small/%02d", k)
		objs[key] = randBytes(100+k, 256<<10+k*4099)
		// A plain PutObject, as another tool sends it: the object keeps
		// only its MD5 ETag (amove's own single PUTs carry a CRC32C).
		if _, err := direct.Client().PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(objs[key])}); err != nil {
			t.Fatal(err)
		}
	}
	for key := range objs {
		o, err := direct.Stat(context.Background(), bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if best := o.Checksums.Best(nil); strings.HasPrefix(key, "small/") && best.Hash != provider.HashMD5 ||
			strings.HasPrefix(key, "big/") && (!best.IsZero() || o.Checksums.MD5Parts == "") {
			t.Fatalf("%s has checksums %+v: want an MD5 (ETag) and nothing cheaper", key, o.Checksums)
		}
	}
	proxy := newS3Proxy(t, env.Endpoint)
	st := openS3(t, env, proxy.URL)
	run := func(prefix string) (transfer.Status, string) {
		t.Helper()
		e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Concurrency: 12, PartSize: 8 << 20, MaxAttempts: 1})
		defer e.Close()
		dir := t.TempDir()
		id := startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: prefix}, LocalPath: dir + "/"})
		return wait(t, e, id), dir
	}
	for _, prefix := range []string{"big/", "small/"} {
		stat, dir := run(prefix)
		if stat.State != transfer.Completed || !stat.ChecksumVerified {
			t.Fatalf("%s: %s %q verified %v", prefix, stat.State, stat.Error, stat.ChecksumVerified)
		}
		for key, b := range objs {
			if rel, ok := strings.CutPrefix(key, prefix); ok {
				if got, err := os.ReadFile(filepath.Join(dir, rel)); err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s: downloaded bytes differ (%v)", key, err)
				}
			}
		}

		_, before := proxy.Flips()
		proxy.FlipNextDownload()
		stat, dir = run(prefix)
		if _, after := proxy.Flips(); after != before+1 {
			t.Fatalf("%s: the proxy flipped %d bytes, want 1", prefix, after-before)
		}
		if stat.State != transfer.Failed || !strings.Contains(stat.Error, "checksum") {
			t.Fatalf("%s with a flipped byte: %s %q, want failed on the checksum", prefix, stat.State, stat.Error)
		}
		// Every file in place is a whole, right one; the damaged one is not there.
		missing := 0
		for key, b := range objs {
			rel, ok := strings.CutPrefix(key, prefix)
			if !ok {
				continue
			}
			got, err := os.ReadFile(filepath.Join(dir, rel))
			switch {
			case errors.Is(err, os.ErrNotExist):
				missing++
			case err != nil || !bytes.Equal(got, b):
				t.Errorf("%s: a file with wrong bytes is in place (%v)", key, err)
			}
		}
		if missing == 0 {
			t.Errorf("%s: every file is in place although one GET was damaged", prefix)
		}
	}
}
