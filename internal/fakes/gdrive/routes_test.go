package gdrive_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/internal/fakes/fakecheck"
	fake "github.com/amove/amove-go/internal/fakes/gdrive"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/gdrive"
	"github.com/amove/amove-go/provider/providertest"
)

// discovery finds the Drive v3 discovery document that ships inside
// google.golang.org/api, the module the project requires.
func discovery(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "google.golang.org/api").Output()
	if err != nil {
		t.Skipf("google.golang.org/api not in the module cache: %v", err)
	}
	f := filepath.Join(strings.TrimSpace(string(out)), "drive", "v3", "drive-api.json")
	if _, err := os.Stat(f); err != nil {
		t.Skipf("no discovery document: %v", err)
	}
	return f
}

// TestRoutesMatchDiscovery runs the driver's conformance suite against the
// fake and checks every exchange against the Drive v3 discovery document:
// method and path (REST and media upload paths), parameter names, the
// top-level fields of JSON arguments and answers against the method's
// request and response schemas, and Google's error body shape. The
// requests to a resumable session URI (upload_id) are not in the
// document: Google hands that URI out at run time.
func TestRoutesMatchDiscovery(t *testing.T) {
	d, err := fakecheck.ParseDiscovery(discovery(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := fake.New(fake.Options{})
	defer srv.Close()
	rec := fakecheck.Wrap(srv.Server)
	at, rt, exp := srv.Auth.Issue()
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	ts := conf.TokenSource(context.Background(), &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: exp})
	drv, err := provider.Open(context.Background(), provider.Config{CloudType: provider.GoogleDrive, Endpoint: srv.URL, TokenSource: ts})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("traffic", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{Storage: drv, Bucket: "My Drive"})
		_, _ = drv.ListBuckets(context.Background())
	})
	checked := map[string]int{}
	defer func() { t.Logf("exchanges checked by method: %v", checked) }()
	for _, x := range rec.Exchanges() {
		if x.Path == "/token" || strings.Contains(strings.Join(x.Query, ","), "upload_id") {
			continue
		}
		checked[x.Method]++
		for _, bad := range d.Check(x) {
			t.Error(bad)
		}
	}
}
