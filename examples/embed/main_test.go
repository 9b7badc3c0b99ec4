package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
)

// TestRun runs the example as go test runs it in CI: on the in-memory
// driver, and on the MinIO server of the test run.
func TestRun(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		check(t, config{Bucket: "demo", Size: 12 << 20})
	})
	t.Run("MinIO", func(t *testing.T) {
		env := testenv.RequireS3(t)
		ctx := context.Background()
		cfg := config{Endpoint: env.Endpoint, Bucket: "amove-embed-example", AccessKey: env.AccessKey, SecretKey: env.SecretKey, Size: 12 << 20}
		// The Client makes no buckets: the test does, with the driver.
		st, err := provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: cfg.Endpoint,
			Region: "us-east-1", AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.(provider.BucketManager).CreateBucket(ctx, cfg.Bucket, ""); err != nil && !errors.Is(err, provider.ErrExists) {
			t.Fatal(err)
		}
		check(t, cfg)
	})
}

func check(t *testing.T, cfg config) {
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sha256 match") {
		t.Errorf("output %q", out.String())
	}
}
