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
