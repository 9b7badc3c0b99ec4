package transfer_test

import (
	"bytes"
	"context"
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
