package amove_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go"
	frameiofake "github.com/amove/amove-go/internal/fakes/frameio"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/all"
)

// denyServer answers every request 403, in S3's XML or the JSON APIs'
// shape, so a driver gets as far as the network and no further.
func denyServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":{"code":403,"message":"denied"},"errors":[{"title":"Forbidden"}]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// insertCase is one cloud type's account for TestInsertAccountReachesDriver:
// ok says the insert succeeds (a real or fake server); otherwise the
// credentials are bogus and only the kind of failure is checked.
type insertCase struct {
	ct  provider.CloudType
	ok  bool
	acc func(t *testing.T, deny string) amove.NewAccount
}

func keyPair(ct provider.CloudType) func(t *testing.T, deny string) amove.NewAccount {
	return func(t *testing.T, deny string) amove.NewAccount {
		return amove.NewAccount{CloudType: ct, Endpoint: deny, AccessKey: "AKBOGUS", SecretKey: "Ym9ndXMtc2VjcmV0LWtleQ=="}
	}
}

func oauthToken(ct provider.CloudType) func(t *testing.T, deny string) amove.NewAccount {
	return func(t *testing.T, deny string) amove.NewAccount {
		return amove.NewAccount{CloudType: ct, Endpoint: deny,
			CredentialsData: tokenJSON(t, "bogus-access", "bogus-refresh", time.Now().Add(time.Hour))}
	}
}

// insertCases covers the 14 cloud types; TestInsertCasesCover checks it.
func insertCases(t *testing.T) []insertCase {
	s3env, haveS3 := testenv.S3{}, false
	if os.Getenv(testenv.EnvS3Endpoint) != "" || testenv.InCI() {
		s3env, haveS3 = testenv.RequireS3(t), true
	}
	s3like := func(ct provider.CloudType) insertCase {
		if !haveS3 {
			return insertCase{ct: ct, acc: keyPair(ct)}
		}
		return insertCase{ct: ct, ok: true, acc: func(t *testing.T, _ string) amove.NewAccount {
			return amove.NewAccount{CloudType: ct, ServiceURL: s3env.Endpoint, AccessKey: s3env.AccessKey, SecretKey: s3env.SecretKey}
		}}
	}
	return []insertCase{
		{ct: provider.AWS, acc: keyPair(provider.AWS)},
		{ct: provider.Wasabi, acc: keyPair(provider.Wasabi)},
		{ct: provider.Azure, acc: keyPair(provider.Azure)},
		s3like(provider.S3Generic),
		{ct: provider.Google, acc: keyPair(provider.Google)}, // HMAC keys: routed to the S3 driver
		{ct: provider.Frame, ok: true, acc: func(t *testing.T, _ string) amove.NewAccount {
			srv := frameiofake.New(frameiofake.Options{})
			t.Cleanup(srv.Close)
			at, rt, exp := srv.Auth.Issue()
			return amove.NewAccount{CloudType: provider.Frame, Endpoint: srv.URL, CredentialsData: tokenJSON(t, at, rt, exp)}
		}},
		{ct: provider.Cloudflare, acc: keyPair(provider.Cloudflare)},
		{ct: provider.Dropbox, acc: oauthToken(provider.Dropbox)},
		{ct: provider.Box, acc: oauthToken(provider.Box)},
		{ct: provider.OneDrive, acc: oauthToken(provider.OneDrive)},
		{ct: provider.GoogleDrive, acc: oauthToken(provider.GoogleDrive)},
		{ct: provider.LocalHttp, ok: true, acc: func(t *testing.T, _ string) amove.NewAccount {
			a, _ := fastrAccount(t, provider.LocalHttp)
			return a
		}},
		{ct: provider.FastrServer, acc: func(t *testing.T, deny string) amove.NewAccount {
			return amove.NewAccount{CloudType: provider.FastrServer, ServiceURL: deny, AccessKey: "AKBOGUS", SecretKey: "bogus-secret"}
		}},
		s3like(provider.Atomosphere),
	}
}

// noDriver reports whether err is the registry's "no driver" failure.
func noDriver(err error) bool {
	return errors.Is(err, provider.ErrUnsupported) && strings.Contains(err.Error(), "no driver")
}

// TestInsertAccountReachesDriver inserts an account of each of the 14
// cloud types through Client.InsertAccount with the real registry
// (provider/all): none may fail with "no driver". Where a server is at
// hand (the Frame.io fake, a Fastr server, MinIO for S3Generic and
// Atomosphere) the insert succeeds; elsewhere the credentials are bogus or
// the endpoint refuses them, and the failure must be the provider's.
func TestInsertAccountReachesDriver(t *testing.T) {
	ctx := context.Background()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(t.TempDir(), "a.db"),
		KeyFile: filepath.Join(t.TempDir(), "k"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, "drivers", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	deny := denyServer(t)
	for _, tc := range insertCases(t) {
		t.Run(tc.ct.String(), func(t *testing.T) {
			in := tc.acc(t, deny)
			in.Name = tc.ct.String()
			a, err := c.InsertAccount(ctx, admin.Principal(), in)
			switch {
			case noDriver(err):
				t.Fatalf("cloudType %d: %v", int(tc.ct), err)
			case tc.ok && err != nil:
				t.Fatalf("cloudType %d: %v", int(tc.ct), err)
			case tc.ok && a.CloudType != tc.ct:
				t.Errorf("inserted %+v", a)
			case !tc.ok && err == nil:
				t.Errorf("cloudType %d: bogus credentials accepted", int(tc.ct))
			case !tc.ok && !errors.Is(err, provider.ErrPermission) && !errors.Is(err, provider.ErrUnauthenticated):
				// Refused before the driver (validation) proves nothing.
				t.Errorf("cloudType %d: %v, want the driver's refusal of the credentials", int(tc.ct), err)
			}
		})
	}
	// The check itself: a driver name nothing registered is "no driver".
	_, err = c.InsertAccount(ctx, admin.Principal(), amove.NewAccount{Name: "x", Driver: "not-linked-in",
		ServiceURL: deny, AccessKey: "a", SecretKey: "b"})
	if !noDriver(err) {
		t.Errorf("unregistered driver: %v, want ErrUnsupported with \"no driver\"", err)
	}
}

// TestInsertCasesCover keeps the table above whole: one case for each
// cloud type.
func TestInsertCasesCover(t *testing.T) {
	seen := map[provider.CloudType]bool{}
	for _, tc := range insertCases(t) {
		seen[tc.ct] = true
	}
	for _, ct := range provider.CloudTypes() {
		if !seen[ct] {
			t.Errorf("no insert case for %s", ct)
		}
		if !provider.Registered(ct.DriverName()) {
			t.Errorf("%s: no driver registered as %q", ct, ct.DriverName())
		}
	}
}
