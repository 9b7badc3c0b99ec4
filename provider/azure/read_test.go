package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
)

// putParts stores data as a block blob committed from 3 MiB blocks, so it
// has no Content-MD5 and its blocks do not line up with the reader's 4 MiB
// spans.
func putParts(t *testing.T, s *Storage, bucket, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateMultipart(ctx, bucket, key, provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []provider.Part
	for n, off := 1, 0; off < len(data); n, off = n+1, off+3<<20 {
		chunk := data[off:min(off+3<<20, len(data))]
		p, err := s.UploadPart(ctx, u, n, bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	if _, err := s.CompleteMultipart(ctx, u, parts); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) || st.Checksums.MD5 != "" {
		t.Fatalf("committed blob: size %d, MD5 %q; want %d bytes and no MD5", st.Size, st.Checksums.MD5, len(data))
	}
}

func md5Sum(b []byte) provider.Checksum {
	return provider.Checksum{Hash: provider.HashMD5, Value: md5Hex(b)}
}

func verifiedChecksum(t *testing.T, rc io.ReadCloser) provider.Checksum {
	t.Helper()
	vr, ok := rc.(provider.VerifiedReader)
	if !ok {
		t.Fatalf("reader %T is not a provider.VerifiedReader", rc)
	}
	return vr.Checksum()
}

// TestRangeReaderVerified: ranges of a blob without Content-MD5 come back
// checked span by span, with the MD5 of the range once all of it was read.
func TestRangeReaderVerified(t *testing.T) {
	s := open(t)
	c := freshContainer(t, s)
	ctx := context.Background()
	data := make([]byte, 10<<20+123)
	_, _ = rand.Read(data)
	putParts(t, s, c, "blocks", data)
	size := int64(len(data))

	cases := []struct{ off, n int64 }{
		{0, -1},                 // the whole blob: 4 + 4 + 2 MiB + 123
		{1<<20 + 7, 5<<20 + 11}, // unaligned middle, across span and block edges
		{4 << 20, 4 << 20},      // exactly one span
		{size - 100, 1000},      // runs past the end: truncated
		{9 << 20, -1},           // a tail
		{3, 10},                 // tiny
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d+%d", tc.off, tc.n), func(t *testing.T) {
			end := size
			if tc.n > 0 && tc.off+tc.n < end {
				end = tc.off + tc.n
			}
			want := data[tc.off:end]
			rc, err := s.NewRangeReader(ctx, c, "blocks", tc.off, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if sum := verifiedChecksum(t, rc); !sum.IsZero() {
				t.Errorf("Checksum before reading: %v, want zero", sum)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d equal bytes", len(got), len(want))
			}
			if sum := verifiedChecksum(t, rc); !sum.Equal(md5Sum(want)) {
				t.Errorf("Checksum %v, want %v", sum, md5Sum(want))
			}
		})
	}

	// Part of the range read: nothing vouched for yet, even once the first
	// spans were checked; the last byte, without a read of EOF, completes it.
	rc, err := s.NewRangeReader(ctx, c, "blocks", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(rc, buf[:9<<20]); err != nil {
		t.Fatal(err)
	}
	if sum := verifiedChecksum(t, rc); !sum.IsZero() {
		t.Errorf("Checksum after %d of %d bytes: %v, want zero", 9<<20, size, sum)
	}
	if _, err := io.ReadFull(rc, buf[9<<20:size-1]); err != nil {
		t.Fatal(err)
	}
	if sum := verifiedChecksum(t, rc); !sum.IsZero() {
		t.Errorf("Checksum one byte short: %v, want zero", sum)
	}
	if _, err := io.ReadFull(rc, buf[size-1:]); err != nil {
		t.Fatal(err)
	}
	if sum := verifiedChecksum(t, rc); !sum.Equal(md5Sum(data)) || !bytes.Equal(buf, data) {
		t.Errorf("Checksum after the last byte: %v, want %v", sum, md5Sum(data))
	}
	rc.Close()
	if sum := verifiedChecksum(t, rc); !sum.Equal(md5Sum(data)) {
		t.Errorf("Checksum after Close: %v, want %v", sum, md5Sum(data))
	}
	if _, err := rc.Read(buf[:1]); err == nil {
		t.Error("Read after Close succeeded")
	}

	// A reader closed early vouches for nothing.
	rc, err = s.NewRangeReader(ctx, c, "blocks", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, buf[:10]); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if sum := verifiedChecksum(t, rc); !sum.IsZero() {
		t.Errorf("Checksum of a reader closed early: %v, want zero", sum)
	}

	// The edges keep their old answers: an empty blob reads as nothing, a
	// range past the end is ErrInvalid, a missing blob ErrNotFound.
	if _, err := s.Write(ctx, c, "empty", bytes.NewReader(nil), 0, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err = s.NewRangeReader(ctx, c, "empty", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Errorf("empty blob: %d bytes, %v", len(b), err)
	}
	rc.Close()
	// A range that starts at the end: Azure answers 416, Azurite no bytes.
	for _, n := range []int64{-1, 10} {
		old, oldErr := s.plainReader(ctx, c, "blocks", size, n)
		rc, err := s.NewRangeReader(ctx, c, "blocks", size, n)
		if (err == nil) != (oldErr == nil) || err != nil && !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("range at the end: %v, a plain GET: %v", err, oldErr)
		}
		if err == nil {
			b, err := io.ReadAll(rc)
			if err != nil || len(b) != 0 || !verifiedChecksum(t, rc).IsZero() {
				t.Errorf("range at the end: %d bytes, %v, checksum %v", len(b), err, verifiedChecksum(t, rc))
			}
			rc.Close()
			old.Close()
		}
	}
	_, err = s.NewRangeReader(ctx, c, "blocks", size+1, -1)
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("range past the end: %v, want ErrInvalid", err)
	}
	_, err = s.NewRangeReader(ctx, c, "missing", 0, -1)
	if !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("missing blob: %v, want ErrNotFound", err)
	}
}

// TestRangeReaderDamaged: a proxy in front of Azurite flips one byte of the
// span at 4 MiB; the read fails with ErrChecksum once it gets there, and the
// reader vouches for nothing.
func TestRangeReaderDamaged(t *testing.T) {
	env := testenv.RequireAzure(t)
	s := open(t)
	c := freshContainer(t, s)
	data := make([]byte, 10<<20+123)
	_, _ = rand.Read(data)
	putParts(t, s, c, "blocks", data)

	target, err := url.Parse(env.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var flipped atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.ModifyResponse = func(resp *http.Response) error {
		rng := resp.Request.Header.Get("x-ms-range") + resp.Request.Header.Get("Range")
		if resp.Request.Method == http.MethodGet && strings.HasPrefix(rng, fmt.Sprintf("bytes=%d-", 4<<20)) {
			flipped.Add(1)
			resp.Body = &flipByte{ReadCloser: resp.Body, at: 100}
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	st, err := Open(context.Background(), provider.Config{
		AccessKey: env.Account, SecretKey: env.Key, Endpoint: srv.URL + target.Path,
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, ctx := range []context.Context{context.Background(), provider.WithoutRetries(context.Background())} {
		flipped.Store(0)
		rc, err := st.NewRangeReader(ctx, c, "blocks", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("read through a damaging proxy: %v, want ErrChecksum", err)
		}
		if len(got) != 4<<20 || !bytes.Equal(got, data[:4<<20]) {
			t.Errorf("got %d bytes before the damaged span, want the first %d", len(got), 4<<20)
		}
		if sum := verifiedChecksum(t, rc); !sum.IsZero() {
			t.Errorf("Checksum after a mismatch: %v, want zero", sum)
		}
		if n := flipped.Load(); n != 1 {
			t.Errorf("%d damaged answers, want 1 (a mismatch is the caller's to retry)", n)
		}
		rc.Close()
	}

	// Ranges that miss the damaged span read fine through the same proxy.
	rc, err := st.NewRangeReader(context.Background(), c, "blocks", 8<<20, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data[8<<20:]) {
		t.Errorf("undamaged tail: %d bytes, %v", len(got), err)
	}
	if sum := verifiedChecksum(t, rc); !sum.Equal(md5Sum(data[8<<20:])) {
		t.Errorf("undamaged tail Checksum %v", sum)
	}
}

// flipByte inverts the byte at offset at of a body.
type flipByte struct {
	io.ReadCloser
	at, pos int64
}

func (f *flipByte) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		p[f.at-f.pos] ^= 0xff
	}
	f.pos += int64(n)
	return n, err
}

// fakeBlob answers ranged GETs from data, the way Azure does, with hooks to
// damage them.
type fakeBlob struct {
	data  []byte
	etag  azcore.ETag
	calls atomic.Int32
	// answer, when set, may change a span before it is returned.
	answer func(call int, off int64, sp *span)
}

func (f *fakeBlob) fetch(ctx context.Context, off, count int64, etag azcore.ETag) (span, error) {
	call := int(f.calls.Add(1))
	if err := ctx.Err(); err != nil {
		return span{}, err
	}
	if etag != "" && etag != f.etag {
		return span{}, errors.New("412 condition not met")
	}
	if count > maxRangeMD5 {
		return span{}, fmt.Errorf("asked for %d bytes", count)
	}
	if off >= int64(len(f.data)) {
		return span{}, errors.New("416")
	}
	b := f.data[off:min(off+count, int64(len(f.data)))]
	sum := md5.Sum(b)
	sp := span{body: io.NopCloser(bytes.NewReader(b)), md5: sum[:], count: int64(len(b)), size: int64(len(f.data)), etag: f.etag}
	if f.answer != nil {
		f.answer(call, off, &sp)
	}
	return sp, nil
}

// brokenBody fails after n bytes, like a dropped connection.
type brokenBody struct {
	r io.Reader
}

func (b brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (brokenBody) Close() error { return nil }

func readFake(ctx context.Context, f *fakeBlob, off, n int64) ([]byte, provider.Checksum, error) {
	r, err := newVerifiedReader(ctx, f.fetch, "fake", off, n)
	if err != nil {
		return nil, provider.Checksum{}, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return b, r.Checksum(), err
}

// TestVerifiedReaderFake drives the reader with a fake service.
func TestVerifiedReaderFake(t *testing.T) {
	data := make([]byte, 9<<20+5)
	_, _ = rand.Read(data)
	ctx := context.Background()

	t.Run("mismatch", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e", answer: func(call int, _ int64, sp *span) {
			if call == 3 {
				sp.md5 = append([]byte(nil), sp.md5...)
				sp.md5[0] ^= 1
			}
		}}
		b, sum, err := readFake(ctx, f, 0, -1)
		if !errors.Is(err, provider.ErrChecksum) || len(b) != 8<<20 || !sum.IsZero() {
			t.Errorf("wrong MD5 of the last span: %d bytes, sum %v, err %v", len(b), sum, err)
		}
	})
	t.Run("no MD5", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e", answer: func(call int, _ int64, sp *span) {
			if call == 2 {
				sp.md5 = nil
			}
		}}
		b, sum, err := readFake(ctx, f, 0, -1)
		if err != nil || !bytes.Equal(b, data) || !sum.IsZero() {
			t.Errorf("a span without MD5: %d bytes, sum %v, err %v; want the bytes and no checksum", len(b), sum, err)
		}
	})
	t.Run("spans", func(t *testing.T) {
		var offs []int64
		f := &fakeBlob{data: data, etag: "e", answer: func(_ int, off int64, _ *span) { offs = append(offs, off) }}
		b, sum, err := readFake(ctx, f, 1000, 8<<20)
		want := data[1000 : 1000+8<<20]
		if err != nil || !bytes.Equal(b, want) || !sum.Equal(md5Sum(want)) {
			t.Errorf("8 MiB at 1000: %d bytes, sum %v, err %v", len(b), sum, err)
		}
		if fmt.Sprint(offs) != fmt.Sprint([]int64{1000, 1000 + 4<<20}) {
			t.Errorf("spans at %v", offs)
		}
	})
	broken := func(calls ...int) func(int, int64, *span) {
		return func(call int, _ int64, sp *span) {
			for _, c := range calls {
				if c == call {
					sp.body = brokenBody{io.LimitReader(sp.body, 10)}
				}
			}
		}
	}
	t.Run("broken body retried", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e", answer: broken(1, 3, 4)}
		b, sum, err := readFake(ctx, f, 0, -1)
		if err != nil || !bytes.Equal(b, data) || !sum.Equal(md5Sum(data)) {
			t.Errorf("broken bodies: %d bytes, sum %v, err %v", len(b), sum, err)
		}
		if n := f.calls.Load(); n != 6 {
			t.Errorf("%d GETs, want 6 (3 spans, 3 fetched again)", n)
		}
	})
	t.Run("broken body too often", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e", answer: broken(2, 3, 4, 5)}
		_, sum, err := readFake(ctx, f, 0, -1)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !sum.IsZero() {
			t.Errorf("a span broken %d times: sum %v, err %v", readRetries+1, sum, err)
		}
	})
	t.Run("broken body without retries", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e", answer: broken(2)}
		_, sum, err := readFake(provider.WithoutRetries(ctx), f, 0, -1)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !sum.IsZero() || f.calls.Load() != 2 {
			t.Errorf("WithoutRetries: %d GETs, sum %v, err %v; want 2 and the break", f.calls.Load(), sum, err)
		}
	})
	t.Run("blob replaced", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e"}
		r, err := newVerifiedReader(ctx, f.fetch, "fake", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		f.etag = "other"
		b, err := io.ReadAll(r)
		if err == nil || len(b) != 4<<20 || !r.Checksum().IsZero() {
			t.Errorf("replaced blob: %d bytes, err %v", len(b), err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		f := &fakeBlob{data: data, etag: "e"}
		r, err := newVerifiedReader(ctx, f.fetch, "fake", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		buf := make([]byte, 4<<20)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
			t.Errorf("Read after cancel: %v, want context.Canceled", err)
		}
	})
	t.Run("no size", func(t *testing.T) {
		f := &fakeBlob{data: data, etag: "e", answer: func(_ int, _ int64, sp *span) { sp.size = -1 }}
		if _, err := newVerifiedReader(ctx, f.fetch, "fake", 0, -1); !errors.Is(err, errUnverifiable) {
			t.Errorf("answer without Content-Range: %v, want errUnverifiable", err)
		}
	})
}

func TestRangeSize(t *testing.T) {
	for in, want := range map[string]int64{"bytes 0-99/1234": 1234, "bytes 0-0/1": 1, "bytes */1234": 1234, "bytes 0-99/*": -1, "": -1} {
		if got := rangeSize(in); got != want {
			t.Errorf("rangeSize(%q) = %d, want %d", in, got, want)
		}
	}
}
