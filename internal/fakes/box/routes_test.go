package box_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/box"
	"github.com/amove/amove-go/internal/fakes/fakecheck"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/box"
	"github.com/amove/amove-go/provider/providertest"
)

// openapi is Box's OpenAPI description (shared/external beside the
// repository).
const openapi = "../../../../shared/external/box/openapi.json"

// TestRoutesMatchOpenAPI runs the driver's conformance suite against the
// fake and checks every exchange against Box's OpenAPI document: path and
// method, query parameter names, and the top-level fields of each JSON
// answer (errors included) against the response schema for its status.
func TestRoutesMatchOpenAPI(t *testing.T) {
	api, err := fakecheck.ParseOpenAPI(openapi)
	if err != nil {
		t.Skipf("Box OpenAPI document not found: %v", err)
	}
	srv := fake.New(fake.Options{})
	defer srv.Close()
	rec := fakecheck.Wrap(srv.Server)
	at, rt, exp := srv.Auth.Issue()
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	ts := conf.TokenSource(context.Background(), &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: exp})
	drv, err := provider.Open(context.Background(), provider.Config{CloudType: provider.Box, Endpoint: srv.URL, TokenSource: ts})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("traffic", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{Storage: drv, Bucket: "All Files"})
		_, _ = drv.ListBuckets(context.Background())
	})
	_ = time.Second
	for _, x := range rec.Exchanges() {
		var path string
		switch {
		case strings.HasPrefix(x.Path, "/api/2.0/"):
			path = strings.TrimPrefix(x.Path, "/api/2.0") // upload host
		case strings.HasPrefix(x.Path, "/2.0/"):
			path = strings.TrimPrefix(x.Path, "/2.0")
		default:
			continue // OAuth and the download redirect target
		}
		for _, bad := range api.Check(x, path) {
			t.Error(bad)
		}
	}
}
