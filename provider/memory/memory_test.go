package memory_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/provider/providertest"
)

func TestConformance(t *testing.T) {
	s := memory.New(memory.Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	s.SetBaseURL(srv.URL)
	if err := s.CreateBucket(context.Background(), "conformance", ""); err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, providertest.Harness{Storage: s, Bucket: "conformance", HTTPClient: srv.Client()})
}
