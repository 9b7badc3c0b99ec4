package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// -allow-host (repeatable), AMOVE_ALLOW_HOSTS and the config file's
// allowHosts reach the client's OutboundPolicy: a request to another host
// is refused before anything is sent.
func TestAllowHostFlag(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"allowHosts":["from-file.example"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AMOVE_CONFIG", cfg)
	t.Setenv("AMOVE_ALLOW_HOSTS", "")
	parse := func(args ...string) settings {
		t.Helper()
		var s settings
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		s.flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := s.load(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := parse("-allow-host", "s3.example.com", "-allow-host", "10.0.0.0/8"); !slices.Equal(s.AllowHosts, []string{"s3.example.com", "10.0.0.0/8"}) {
		t.Fatalf("flags: %v", s.AllowHosts)
	}
	if s := parse(); !slices.Equal(s.AllowHosts, []string{"from-file.example"}) {
		t.Fatalf("config file: %v", s.AllowHosts)
	}
	t.Setenv("AMOVE_ALLOW_HOSTS", "a.example,b.example")
	s := parse()
	if !slices.Equal(s.AllowHosts, []string{"a.example", "b.example"}) {
		t.Fatalf("environment: %v", s.AllowHosts)
	}

	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	s.DSN = "sqlite:" + filepath.Join(dir, "amove.db")
	s.KeyFile = filepath.Join(dir, "secret.key")
	c, err := s.open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := s.localAdmin(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.InsertAccount(context.Background(), u.Principal(), amove.NewAccount{CloudType: provider.S3Generic,
		Name: "off the list", Endpoint: srv.URL, AccessKey: "AKIDEXAMPLE", SecretKey: "secret-not-sent"})
	if !errors.Is(err, provider.ErrOutboundRefused) || hits.Load() != 0 {
		t.Fatalf("an endpoint off the list: %v (%d requests arrived)", err, hits.Load())
	}
}
