package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/amove/amove-go/provider"
)

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestDigestErrors sends bodies with wrong digests straight through the SDK
// and checks the server's refusals map to provider.ErrChecksum, and a
// malformed digest to ErrInvalid.
func TestDigestErrors(t *testing.T) {
	s, bucket := openMinIO(t)
	ctx := context.Background()
	other := md5.Sum([]byte("other"))
	cases := []struct {
		name string
		in   *s3.PutObjectInput
		want error
	}{
		{"wrong Content-MD5", &s3.PutObjectInput{ContentMD5: aws.String(base64.StdEncoding.EncodeToString(other[:]))}, provider.ErrChecksum},
		{"wrong CRC32C", &s3.PutObjectInput{ChecksumCRC32C: aws.String(crcBase64(1234))}, provider.ErrChecksum},
		{"malformed Content-MD5", &s3.PutObjectInput{ContentMD5: aws.String("not-base64")}, provider.ErrInvalid},
	}
	for _, c := range cases {
		c.in.Bucket, c.in.Key, c.in.Body = aws.String(bucket), aws.String("digest"), strings.NewReader("hello")
		_, err := s.client.PutObject(ctx, c.in)
		got := mapError(err, "b/k")
		if !errors.Is(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if c.want == provider.ErrInvalid && errors.Is(got, provider.ErrChecksum) {
			t.Errorf("%s: %v also matches ErrChecksum", c.name, got)
		}
	}
	// A part whose CRC32C does not match its bytes.
	u, err := s.CreateMultipart(ctx, bucket, "digest-mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortMultipart(ctx, u)
	_, err = s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(u.Key), UploadId: aws.String(u.ID),
		PartNumber: aws.Int32(1), Body: strings.NewReader("hello"), ChecksumCRC32C: aws.String(crcBase64(1234))})
	if err := mapError(err, "part"); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("part with a wrong CRC32C: %v, want ErrChecksum", err)
	}
	if _, err := s.Stat(ctx, bucket, "digest"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("a refused body left an object: %v", err)
	}
}

// TestWriteVerified: every write returns the checksum the server checked,
// and every part the one the server checked on receipt.
func TestWriteVerified(t *testing.T) {
	s, bucket := openMinIO(t)
	ctx := context.Background()
	small := []byte("small object")
	smallCRC := provider.FormatCRC32C(crc32.Checksum(small, provider.CRC32C))
	// A single PUT: CRC32C where the server keeps full-object CRCs (and
	// the object keeps it), else MD5.
	for _, noCRC := range []bool{false, true} {
		s.noChecksums.Store(noCRC)
		o, err := s.Write(ctx, bucket, "small", bytes.NewReader(small), int64(len(small)), provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Stat(ctx, bucket, "small")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case noCRC && (o.Verified != provider.HashMD5 || o.Checksums.MD5 != md5Hex(small)):
			t.Errorf("single PUT without CRCs: Verified %q, MD5 %q; want md5 %s", o.Verified, o.Checksums.MD5, md5Hex(small))
		case !noCRC && (o.Verified != provider.HashCRC32C || o.Checksums.CRC32C != smallCRC):
			t.Errorf("single PUT: Verified %q, CRC32C %q; want crc32c %s", o.Verified, o.Checksums.CRC32C, smallCRC)
		case !noCRC && (st.Checksums.CRC32C != smallCRC || st.Checksums.MD5 != md5Hex(small)):
			t.Errorf("Stat after a single PUT: %+v, want CRC32C %s and MD5 %s", st.Checksums, smallCRC, md5Hex(small))
		}
	}
	s.noChecksums.Store(false)

	big := make([]byte, 11<<20)
	_, _ = rand.Read(big)
	o, err := s.Write(ctx, bucket, "big", bytes.NewReader(big), -1, provider.WriteOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	wantCRC := provider.FormatCRC32C(crc32.Checksum(big, provider.CRC32C))
	if o.Verified != provider.HashCRC32C || o.Checksums.CRC32C != wantCRC {
		t.Errorf("multipart: Verified %q, CRC32C %q; want crc32c %s", o.Verified, o.Checksums.CRC32C, wantCRC)
	}

	// Parts: CRC32C where the server keeps full-object CRCs, else MD5.
	for _, noCRC := range []bool{false, true} {
		s.noChecksums.Store(noCRC)
		u, err := s.CreateMultipart(ctx, bucket, "parts", provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		chunk := big[:5<<20]
		p, err := s.UploadPart(ctx, u, 1, bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			t.Fatal(err)
		}
		want := provider.Checksum{Hash: provider.HashCRC32C, Value: provider.FormatCRC32C(crc32.Checksum(chunk, provider.CRC32C))}
		if noCRC {
			want = provider.Checksum{Hash: provider.HashMD5, Value: md5Hex(chunk)}
		}
		if !p.Checksum.Equal(want) {
			t.Errorf("noChecksums=%v: part checksum %v, want %v", noCRC, p.Checksum, want)
		}
		o, err := s.CompleteMultipart(ctx, u, []provider.Part{p})
		if err != nil {
			t.Fatal(err)
		}
		if wantV := map[bool]provider.Hash{false: provider.HashCRC32C, true: ""}[noCRC]; o.Verified != wantV {
			t.Errorf("noChecksums=%v: CompleteMultipart Verified %q, want %q", noCRC, o.Verified, wantV)
		}
	}
	s.noChecksums.Store(false)

	// A copy is checked against the source's MD5.
	c, err := s.Copy(ctx, bucket, "small-copy", bucket, "small")
	if err != nil {
		t.Fatal(err)
	}
	if c.Verified != provider.HashMD5 || c.Checksums.MD5 != md5Hex(small) {
		t.Errorf("copy: Verified %q, MD5 %q", c.Verified, c.Checksums.MD5)
	}
	st, err := s.Stat(ctx, bucket, "big")
	if err != nil {
		t.Fatal(err)
	}
	if st.Checksums.CRC32C != wantCRC || st.Checksums.MD5 != "" {
		t.Errorf("Stat of a multipart object: %+v", st.Checksums)
	}
}

// TestWithoutRetries: the SDK tries a failing call three times, and once
// under provider.WithoutRetries.
func TestWithoutRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`<Error><Code>InternalError</Code><Message>boom</Message></Error>`))
	}))
	defer srv.Close()
	s, err := Open(context.Background(), provider.Config{CloudType: provider.S3Generic, AccessKey: "a", SecretKey: "b", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ctx  context.Context
		want int32
	}{{context.Background(), 3}, {provider.WithoutRetries(context.Background()), 1}} {
		calls.Store(0)
		_, err := s.Stat(c.ctx, "bucket", "key")
		var ae smithy.APIError
		if err == nil || (!errors.As(err, &ae) && !strings.Contains(err.Error(), "500")) {
			t.Errorf("Stat: %v", err)
		}
		if got := calls.Load(); got != c.want {
			t.Errorf("retries disabled %v: %d requests, want %d", provider.RetriesDisabled(c.ctx), got, c.want)
		}
	}
}

// TestWholeReadReportsChecksums: the reader of a whole object tells the
// full-object checksum the server holds (x-amz-checksum-mode on the GET)
// and the ETag's MD5; a ranged reader tells nothing.
func TestWholeReadReportsChecksums(t *testing.T) {
	s, bucket := openMinIO(t)
	ctx := context.Background()
	body := []byte(strings.Repeat("checksum mode ", 1000))
	for _, c := range []struct {
		alg  types.ChecksumAlgorithm
		want provider.Hash
	}{{types.ChecksumAlgorithmCrc64nvme, provider.HashCRC64}, {types.ChecksumAlgorithmCrc32c, provider.HashCRC32C}, {"", ""}} {
		key := "sum-" + string(c.alg)
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ChecksumAlgorithm: c.alg}); err != nil {
			t.Fatal(err)
		}
		rc, err := s.NewRangeReader(ctx, bucket, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		or, ok := rc.(provider.ObjectReader)
		if !ok || !bytes.Equal(got, body) {
			t.Fatalf("%s: whole reader %T, %d bytes", key, rc, len(got))
		}
		o := or.Object()
		wantSums := provider.Checksums{MD5: md5Hex(body)}
		if c.want != "" {
			wantSums.Set(provider.SumBytes(c.want, body))
		}
		if o.Checksums != wantSums || o.Size != int64(len(body)) || o.ETag == "" {
			t.Errorf("%s: reader reports %+v size %d etag %q, want %+v", key, o.Checksums, o.Size, o.ETag, wantSums)
		}
		rc, err = s.NewRangeReader(ctx, bucket, key, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if _, ok := rc.(provider.ObjectReader); ok {
			t.Errorf("%s: a ranged reader claims the object's checksums", key)
		}
	}
}

// TestETagDigests: a plain ETag is the object's MD5, a multipart one
// ("<hex>-N") the MD5 of its parts' MD5s; anything else is neither.
func TestETagDigests(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ etag, md5, parts string }{
		{`"` + sum + `"`, sum, ""},
		{`"` + strings.ToUpper(sum) + `-12"`, "", sum},
		{sum + "-1", "", sum},
		{sum + "-", "", ""},
		{sum + "-x", "", ""},
		{sum[:30] + "-3", "", ""},
		{"z123456789abcdef0123456789abcdef-2", "", ""},
		{`"` + strings.ToUpper(sum) + `"`, sum, ""},
		{`"0123456789abcdef0123456789abcdeg"`, "", ""},
		{`"0123456789abcdef 123456789abcdef"`, "", ""},
		{"", "", ""},
	} {
		if got := etagMD5(tc.etag).Value; got != tc.md5 {
			t.Errorf("etagMD5(%q) = %q, want %q", tc.etag, got, tc.md5)
		}
		if got := etagMD5Parts(tc.etag).Value; got != tc.parts {
			t.Errorf("etagMD5Parts(%q) = %q, want %q", tc.etag, got, tc.parts)
		}
	}
}

// changingBody is a file-like body whose bytes change after its first
// pass: what the driver hashes is not what it sends.
type changingBody struct {
	io.ReadSeeker
	data   []byte
	passes int
}

func (b *changingBody) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart {
		b.passes++
		if b.passes == 2 {
			b.data[0] ^= 0xff // damaged between the checksum and the send
		}
	}
	return b.ReadSeeker.Seek(off, whence)
}

// TestWriteDamagedBody: a body whose bytes differ from the ones its
// checksum was computed on is refused by the server, on a single PUT (the
// CRC32C the driver sends, or the MD5) and on a part: ErrChecksum, and no
// object. The SigV4 payload hash is of the bytes sent, so it is the
// checksum header that catches it.
func TestWriteDamagedBody(t *testing.T) {
	s, bucket := openMinIO(t)
	ctx := context.Background()
	for _, noCRC := range []bool{false, true} {
		s.noChecksums.Store(noCRC)
		data := bytes.Repeat([]byte("damaged on the way "), 200)
		body := &changingBody{ReadSeeker: bytes.NewReader(data), data: data}
		key := fmt.Sprintf("damaged-%v", noCRC)
		_, err := s.Write(ctx, bucket, key, body, int64(len(data)), provider.WriteOptions{})
		if !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("noChecksums=%v: Write of a damaged body: %v, want ErrChecksum", noCRC, err)
		}
		if _, err := s.Stat(ctx, bucket, key); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("noChecksums=%v: a refused body left an object: %v", noCRC, err)
		}
	}
	s.noChecksums.Store(false)
}

// TestPutChecksumRefused: a server that refuses checksum headers on a
// PUT (an older S3-compatible) gets the body again with Content-MD5, and no
// checksum headers from then on.
func TestPutChecksumRefused(t *testing.T) {
	var withCRC, withMD5 atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Checksum-Crc32c") != "" {
			withCRC.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`<Error><Code>InvalidArgument</Code><Message>x-amz-checksum-crc32c not supported</Message></Error>`))
			return
		}
		sum := md5.Sum(body)
		if r.Header.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`<Error><Code>BadDigest</Code><Message>bad</Message></Error>`))
			return
		}
		withMD5.Add(1)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	}))
	defer srv.Close()
	s, err := Open(context.Background(), provider.Config{CloudType: provider.S3Generic, AccessKey: "a", SecretKey: "b", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := provider.WithoutRetries(context.Background())
	data := []byte("an older server")
	for i := range 2 {
		o, err := s.Write(ctx, "bucket", "key", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if o.Verified != provider.HashMD5 || o.Checksums.MD5 != md5Hex(data) {
			t.Errorf("write %d: Verified %q, MD5 %q", i, o.Verified, o.Checksums.MD5)
		}
	}
	if withCRC.Load() != 1 || withMD5.Load() != 2 {
		t.Errorf("%d requests with a CRC32C, %d with Content-MD5; want 1 and 2", withCRC.Load(), withMD5.Load())
	}
}
