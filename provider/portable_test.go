package provider_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/provider/providertest"
)

// plain embeds only the required interface, as a logging or bandwidth
// wrapper would; with unwrap set it also says what it wraps.
type plain struct {
	provider.Storage
	unwrap bool
}

func (p plain) Unwrap() provider.Storage {
	if p.unwrap {
		return p.Storage
	}
	return nil
}

// failing is a third-party driver that answers with fs errors.
type failing struct{ provider.Storage }

func (failing) Stat(context.Context, string, string) (provider.Object, error) {
	return provider.Object{}, fs.ErrNotExist
}

func TestFeaturesThroughWrappers(t *testing.T) {
	mem := memory.New(memory.Options{})
	declared := mem.Features()
	if got := provider.FeaturesOf(plain{mem, true}); !got.Multipart || !got.ServerSideCopy || !slices.Equal(got.Checksums, declared.Checksums) {
		t.Errorf("FeaturesOf(wrapper with Unwrap) = %+v, want the memory driver's %+v", got, declared)
	}
	if got := provider.FeaturesOf(plain{mem, false}); got.Multipart || got.ServerSideCopy {
		t.Errorf("FeaturesOf(opaque wrapper) = %+v: claims what it cannot reach", got)
	}
	if _, ok := provider.Capability[provider.Copier](plain{mem, true}); !ok {
		t.Error("Capability does not look through Unwrap")
	}
	var back *memory.Storage
	if !provider.NewPortable(plain{mem, true}).As(&back) || back != mem {
		t.Error("As does not reach the wrapped driver")
	}
	var notS3 *struct{ provider.Storage }
	if provider.NewPortable(mem).As(&notS3) || provider.NewPortable(mem).As(nil) {
		t.Error("As set a target of another type")
	}
}

func TestPortableMapsErrors(t *testing.T) {
	ctx := context.Background()
	p := provider.NewPortable(failing{memory.New(memory.Options{})})
	_, err := p.Stat(ctx, "b", "k")
	if !errors.Is(err, provider.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat = %v, want ErrNotFound that still wraps fs.ErrNotExist", err)
	}
	// Input is checked before the driver sees it.
	if _, err := p.Stat(ctx, "b", ""); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Stat of an empty key = %v, want ErrInvalid", err)
	}
}

// TestWriterStreams runs the Writer on a driver it cannot split into
// parts (an opaque wrapper), where it streams through the driver's Write
// of unknown size, and checks Copy without a Copier.
func TestWriterStreams(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "b", ""); err != nil {
		t.Fatal(err)
	}
	p := provider.NewPortable(plain{Storage: mem})
	if f := p.Features(); f.Multipart {
		t.Fatal("opaque wrapper claims multipart")
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB
	w, err := p.NewWriter(ctx, "b", "k", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Track(provider.HashMD5)
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if o := w.Object(); o.Size != int64(len(data)) {
		t.Errorf("stored %d bytes", o.Size)
	}
	if got, want := w.Sum(provider.HashMD5), provider.SumBytes(provider.HashMD5, data); !got.Equal(want) {
		t.Errorf("Sum = %v, want %v", got, want)
	}
	if _, err := p.Copy(ctx, "b", "copy", "b", "k"); err != nil {
		t.Fatal(err)
	}
	rc, err := p.NewReader(ctx, "b", "copy")
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(back, data) {
		t.Error("streamed copy differs")
	}

	// Abort in the middle leaves nothing.
	w, err = p.NewWriter(ctx, "b", "aborted", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Close(); !errors.Is(err, provider.ErrAborted) {
		t.Errorf("Close after Abort = %v", err)
	}
	if _, err := mem.Stat(ctx, "b", "aborted"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("aborted object: %v", err)
	}

	// A cancelled context aborts too.
	cctx, cancel := context.WithCancel(ctx)
	w, err = p.NewWriter(cctx, "b", "cancelled", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close after cancel = %v", err)
	}
	if _, err := mem.Stat(ctx, "b", "cancelled"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("cancelled object: %v", err)
	}
}

// untouchable is a driver with every capability of the memory driver whose
// every method that takes a bucket or key fails the test: the portable
// layer must refuse invalid input before it calls any of them, the
// optional interfaces included.
type untouchable struct {
	*memory.Storage
	t *testing.T
}

func (u untouchable) reached(op string) { u.t.Errorf("%s reached the driver", op) }

func (u untouchable) ListObjects(ctx context.Context, b string, o provider.ListOptions) (provider.Page, error) {
	u.reached("ListObjects")
	return u.Storage.ListObjects(ctx, b, o)
}

func (u untouchable) Stat(ctx context.Context, b, k string) (provider.Object, error) {
	u.reached("Stat")
	return u.Storage.Stat(ctx, b, k)
}

func (u untouchable) NewRangeReader(ctx context.Context, b, k string, off, n int64) (io.ReadCloser, error) {
	u.reached("NewRangeReader")
	return u.Storage.NewRangeReader(ctx, b, k, off, n)
}

func (u untouchable) Write(ctx context.Context, b, k string, r io.Reader, n int64, o provider.WriteOptions) (provider.Object, error) {
	u.reached("Write")
	return u.Storage.Write(ctx, b, k, r, n, o)
}

func (u untouchable) Delete(ctx context.Context, b, k string) error {
	u.reached("Delete")
	return u.Storage.Delete(ctx, b, k)
}

func (u untouchable) CreateFolder(ctx context.Context, b, k string) error {
	u.reached("CreateFolder")
	return u.Storage.CreateFolder(ctx, b, k)
}

func (u untouchable) Copy(ctx context.Context, db, dk, sb, sk string) (provider.Object, error) {
	u.reached("Copy")
	return u.Storage.Copy(ctx, db, dk, sb, sk)
}

func (u untouchable) PresignURL(ctx context.Context, b, k string, o provider.PresignOptions) (string, error) {
	u.reached("PresignURL")
	return u.Storage.PresignURL(ctx, b, k, o)
}

func (u untouchable) CreateMultipart(ctx context.Context, b, k string, o provider.WriteOptions) (provider.Upload, error) {
	u.reached("CreateMultipart")
	return u.Storage.CreateMultipart(ctx, b, k, o)
}

// TestInvalidInputNeverReachesDriver: drivers do not check their input;
// the portable layer refuses what the Check functions refuse, with
// ErrInvalid, before any method of the driver runs, and the wrapper hides
// none of the driver's capabilities.
func TestInvalidInputNeverReachesDriver(t *testing.T) {
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(context.Background(), "b", ""); err != nil {
		t.Fatal(err)
	}
	u := untouchable{mem, t}
	if f := provider.NewPortable(u).Features(); !f.Multipart || !f.ServerSideCopy || !f.Presign {
		t.Fatalf("Features %+v: the wrapper hides a capability", f)
	}
	providertest.Refused(t, provider.NewPortable(u), "b")
}
