package fastr_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	fastrapi "github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/fastr"
	"github.com/amove/amove-go/provider/providertest"
)

const (
	testKey    = "AKFASTRTEST"
	testSecret = "fastr-test-secret-0123456789"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	s, err := fastrapi.NewServer(fastrapi.Options{
		Root:        t.TempDir(),
		Credentials: fastrapi.StaticCredentials(map[string]string{testKey: testSecret}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return srv
}

func TestConformance(t *testing.T) {
	for _, ct := range []provider.CloudType{provider.LocalHttp, provider.FastrServer} {
		t.Run(ct.String(), func(t *testing.T) {
			srv := newServer(t)
			ctx := context.Background()
			st, err := provider.Open(ctx, provider.Config{CloudType: ct, ServiceURL: srv.URL,
				AccessKey: testKey, SecretKey: testSecret, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.(provider.BucketManager).CreateBucket(ctx, "conformance", ""); err != nil {
				t.Fatal(err)
			}
			providertest.Run(t, providertest.Harness{Storage: st, Bucket: "conformance", HTTPClient: srv.Client()})
		})
	}
}

func TestEndpointFallbackAndBadKey(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.LocalHttp, Endpoint: srv.URL,
		AccessKey: testKey, SecretKey: "wrong-secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.ListBuckets(ctx)
	if !errors.Is(err, provider.ErrUnauthenticated) {
		t.Errorf("wrong secret: %v, want ErrUnauthenticated", err)
	}
	_, err = provider.Open(ctx, provider.Config{CloudType: provider.FastrServer, AccessKey: testKey, SecretKey: testSecret})
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("no service URL: %v, want ErrInvalid", err)
	}
}
