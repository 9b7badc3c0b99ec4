package amove_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// TestStorageOps runs every storage operation on a shared account as a user
// who sees it but does not own it, against the memory driver.
func TestStorageOps(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		owner := e.newUser(e.admin, amove.RoleStandardUser)
		a := e.insert(owner, "media", true)
		p := e.newUser(e.admin, amove.RoleCreativeUser).Principal()

		buckets, err := keep(e.c.ListBuckets(ctx, p, a.ID))
		if err != nil || len(buckets) != 1 || buckets[0].Name != "media" {
			t.Fatalf("ListBuckets = %+v, %v", buckets, err)
		}
		if err := keepErr(e.c.CreateFolder(ctx, p, a.ID, "media", "renders")); err != nil {
			t.Fatal(err)
		}
		page, err := keep(e.c.ListObjects(ctx, p, a.ID, "media", provider.ListOptions{Delimiter: "/"}))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		slices.Sort(keys)
		if len(keys) != 2 || keys[0] != "clip.mov" || keys[1] != "renders/" {
			t.Errorf("ListObjects keys = %q", keys)
		}

		url, err := keep(e.c.SignedURL(ctx, p, a.ID, "media", "clip.mov", provider.PresignOptions{Method: http.MethodGet}))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "frames" {
			t.Errorf("GET presigned URL = %d %q", resp.StatusCode, body)
		}

		// A capability the driver lacks says why, in the message the API
		// returns (not only in the wrapped error).
		e.cloud.mem.SetBaseURL("")
		_, err = keep(e.c.SignedURL(ctx, p, a.ID, "media", "clip.mov", provider.PresignOptions{Method: http.MethodGet}))
		var ae *amove.Error
		if !errors.Is(err, provider.ErrUnsupported) || !errors.As(err, &ae) || !strings.Contains(ae.Message, "no BaseURL") {
			t.Errorf("PresignURL without a base URL = %v; want ErrUnsupported with the driver's reason in Message", err)
		}
		e.cloud.mem.SetBaseURL(e.cloud.srv.URL)

		if err := keepErr(e.c.Delete(ctx, p, a.ID, "media", "clip.mov")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cloud.mem.Stat(ctx, "media", "clip.mov"); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("object still there after DeleteObject: %v", err)
		}

		// Driver errors keep their provider sentinel and get a code.
		_, err = keep(e.c.ListObjects(ctx, p, a.ID, "no-such-bucket", provider.ListOptions{}))
		if !errors.Is(err, provider.ErrNotFound) || !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("ListObjects(missing bucket) = %v, want provider and amove ErrNotFound", err)
		}
		if err := keepErr(e.c.CreateFolder(ctx, p, a.ID, "media", "")); !errors.Is(err, amove.ErrValidation) {
			t.Errorf("CreateFolder(\"\") = %v", err)
		}

		// A standard user who does not own it sees nothing of it.
		std := e.newUser(e.admin, amove.RoleStandardUser).Principal()
		if _, err := keep(e.c.ListBuckets(ctx, std, a.ID)); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("ListBuckets by standard user = %v, want NOT_FOUND", err)
		}
		if err := keepErr(e.c.Delete(ctx, std, a.ID, "media", "x")); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("DeleteObject by standard user = %v, want NOT_FOUND", err)
		}
	})
}
