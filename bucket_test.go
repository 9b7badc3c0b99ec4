package amove_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// noBuckets is a driver that manages no buckets: only provider.Storage's
// methods, not the memory driver's BucketManager.
type noBuckets struct{ provider.Storage }

// TestCreateDeleteBucket: CreateBucket and DeleteBucket on each provider
// of the portable test (memory, MinIO): a new bucket is listed, making it
// again is DUPLICATE, deleting it unlists it, deleting it again is
// NOT_FOUND; a user who does not see the account gets NOT_FOUND and
// changes nothing; a driver without buckets to manage is DEFAULT with
// provider.ErrUnsupported.
func TestCreateDeleteBucket(t *testing.T) {
	for _, cloud := range portableClouds {
		t.Run(cloud.name, func(t *testing.T) {
			open, acct, _, _ := cloud.start(t)
			managed := true
			ctx := context.Background()
			c, err := amove.New(ctx, amove.Options{
				DSN: "sqlite:" + filepath.Join(t.TempDir(), "amove.db"), KeyFile: filepath.Join(t.TempDir(), "secret.key"),
				OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
					st, err := open(ctx, cfg)
					if err != nil || managed {
						return st, err
					}
					return noBuckets{st}, nil
				},
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			e := &env{t: t, c: c}
			e.tenant, e.admin = e.newTenant("acme")
			a, err := c.InsertAccount(ctx, e.admin.Principal(), acct)
			if err != nil {
				t.Fatal(err)
			}
			_, other := e.newTenant("other")
			p := e.admin.Principal()
			name := randomName("amove-mb-")
			listed := func() bool {
				t.Helper()
				bs, err := c.ListBuckets(ctx, p, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				return slices.ContainsFunc(bs, func(b provider.Bucket) bool { return b.Name == name })
			}

			if err := c.CreateBucket(ctx, other.Principal(), a.ID, name, ""); !errors.Is(err, amove.ErrNotFound) || listed() {
				t.Fatalf("CreateBucket by another tenant: %v (listed: %v), want NOT_FOUND and no bucket", err, listed())
			}
			if err := c.CreateBucket(ctx, p, a.ID, name, ""); err != nil || !listed() {
				t.Fatalf("CreateBucket: %v, listed: %v", err, listed())
			}
			if err := c.CreateBucket(ctx, p, a.ID, name, ""); amove.ErrorCode(err) != amove.CodeDuplicate || !errors.Is(err, provider.ErrExists) {
				t.Errorf("CreateBucket of an existing bucket: %v, want DUPLICATE", err)
			}
			if err := c.DeleteBucket(ctx, other.Principal(), a.ID, name); !errors.Is(err, amove.ErrNotFound) || !listed() {
				t.Errorf("DeleteBucket by another tenant: %v, want NOT_FOUND and the bucket kept", err)
			}
			if err := c.DeleteBucket(ctx, p, a.ID, name); err != nil || listed() {
				t.Fatalf("DeleteBucket: %v, listed: %v", err, listed())
			}
			if err := c.DeleteBucket(ctx, p, a.ID, name); !errors.Is(err, amove.ErrNotFound) {
				t.Errorf("DeleteBucket of a missing bucket: %v, want NOT_FOUND", err)
			}
			managed = false
			for op, err := range map[string]error{
				"CreateBucket": c.CreateBucket(ctx, p, a.ID, name, ""),
				"DeleteBucket": c.DeleteBucket(ctx, p, a.ID, name),
			} {
				if amove.ErrorCode(err) != amove.CodeDefault || !errors.Is(err, provider.ErrUnsupported) {
					t.Errorf("%s on a driver without buckets: %v, want DEFAULT and ErrUnsupported", op, err)
				}
			}
		})
	}
}
