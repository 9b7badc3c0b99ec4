package storj_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	fakestorj "github.com/amove/amove-go/internal/fakes/storj"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/providertest"
	"github.com/amove/amove-go/provider/storj"
	"storj.io/uplink"
)

// TestConformance runs the suite on the fake project: what runs here is
// the driver's mapping of uplink calls and errors, not a satellite.
func TestConformance(t *testing.T) {
	p := fakestorj.New()
	if _, err := p.CreateBucket(context.Background(), "conformance"); err != nil {
		t.Fatal(err)
	}
	st := storj.New(p)
	defer st.Close()
	providertest.Run(t, providertest.Harness{Storage: st, Bucket: "conformance"})
}

func TestDriverRegistered(t *testing.T) {
	if !provider.Registered(storj.DriverName) {
		t.Fatalf("driver %q is not registered", storj.DriverName)
	}
	cfg, err := provider.ResolveDriver(provider.Config{Driver: storj.DriverName})
	if err != nil || cfg.CloudType != 0 {
		t.Fatalf("ResolveDriver = %+v, %v; want a third-party driver with no cloud type", cfg, err)
	}
}

// TestOpenRealGrant opens a project with a real access grant built
// offline: uplink parses it and opens the project without dialing; the
// first request fails because no satellite listens at its address.
func TestOpenRealGrant(t *testing.T) {
	g, err := fakestorj.NewGrant(fakestorj.SatelliteAddress())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := provider.Open(ctx, provider.Config{Driver: storj.DriverName, CredentialsData: g.Serialized})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if _, err := st.ListBuckets(ctx); err == nil {
		t.Fatal("ListBuckets with no satellite succeeded")
	}
}

func TestOpenBadGrant(t *testing.T) {
	for _, grant := range []string{"", "   ", "not-a-grant", "1Abcdefghijklmnopqrstuvwxyz0123456789"} {
		_, err := provider.Open(context.Background(), provider.Config{Driver: storj.DriverName, CredentialsData: grant})
		if !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", grant, err)
		}
		if grant != "" && strings.Contains(err.Error(), strings.TrimSpace(grant)) && strings.TrimSpace(grant) != "" {
			t.Errorf("Open(%q) echoes the grant: %v", grant, err)
		}
	}
}

// TestErrors checks the mapping of the fake's uplink errors to the
// provider sentinels, beyond what the conformance suite covers.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	p := fakestorj.New()
	st := storj.New(p)
	if err := st.CreateBucket(ctx, "Bad_Name", ""); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("CreateBucket(Bad_Name) = %v, want ErrInvalid", err)
	}
	if err := st.CreateBucket(ctx, "full", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "full", "k", strings.NewReader("x"), 1, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteBucket(ctx, "full"); !errors.Is(err, provider.ErrInvalid) || !errors.Is(err, uplink.ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket of a full bucket = %v, want ErrInvalid wrapping uplink.ErrBucketNotEmpty", err)
	}
	if err := st.Delete(ctx, "nobucket", "k"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Delete in a missing bucket = %v, want ErrNotFound", err)
	}
	if _, err := st.ListObjects(ctx, "full", provider.ListOptions{Delimiter: "|"}); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("ListObjects with delimiter | = %v, want ErrUnsupported", err)
	}
	_, err := st.Write(ctx, "full", "k2", strings.NewReader("x"), 1, provider.WriteOptions{Metadata: map[string]string{"Content-Type": "x"}})
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Write with metadata content-type = %v, want ErrInvalid", err)
	}
	if _, err := st.Write(ctx, "full", "short", strings.NewReader("x"), 5, provider.WriteOptions{}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("short Write = %v, want ErrInvalid", err)
	}
	if _, err := st.Stat(ctx, "full", "short"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("a short Write left an object: %v", err)
	}
}

// TestCompleteChecksParts: Storj commits every part it holds, so a list
// that leaves one out, or names an ETag that is not the held part's, is
// refused before anything is committed.
func TestCompleteChecksParts(t *testing.T) {
	ctx := context.Background()
	p := fakestorj.New()
	if _, err := p.CreateBucket(ctx, "mpu"); err != nil {
		t.Fatal(err)
	}
	st := storj.New(p)
	u, err := st.CreateMultipart(ctx, "mpu", "k", provider.WriteOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("a", 5<<20)
	p1, err := st.UploadPart(ctx, u, 1, strings.NewReader(big), int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := st.UploadPart(ctx, u, 2, strings.NewReader("tail"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(ctx, u, []provider.Part{p1}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Complete without part 2 = %v, want ErrInvalid", err)
	}
	bad := p2
	bad.ETag = "00"
	if _, err := st.CompleteMultipart(ctx, u, []provider.Part{p1, bad}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Complete with a wrong ETag = %v, want ErrInvalid", err)
	}
	if _, err := st.Stat(ctx, "mpu", "k"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("a refused Complete committed the object: %v", err)
	}
	o, err := st.CompleteMultipart(ctx, u, []provider.Part{p2, p1})
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(big))+4 || o.ContentType != "text/plain" {
		t.Errorf("completed object %+v", o)
	}
	if err := st.AbortMultipart(ctx, u); !errors.Is(err, uplink.ErrUploadIDInvalid) || !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Abort of a completed upload = %v, want ErrNotFound wrapping uplink.ErrUploadIDInvalid", err)
	}
}
