package gcs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amove/amove-go/provider"
)

const saJSON = `{"type":"service_account","project_id":"p1","client_email":"a@p1.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}`

func TestUsesHMAC(t *testing.T) {
	cases := []struct {
		name string
		cfg  provider.Config
		want bool
	}{
		{"hmac keys", provider.Config{AccessKey: "GOOG1EXAMPLE", SecretKey: "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ"}, true},
		{"json in CredentialsData", provider.Config{CredentialsData: saJSON}, false},
		{"json in SecretKey", provider.Config{AccessKey: "x", SecretKey: saJSON}, false},
		{"json wins over keys", provider.Config{AccessKey: "GOOG1", SecretKey: "secret", CredentialsData: saJSON}, false},
		{"access key only", provider.Config{AccessKey: "GOOG1"}, false},
		{"nothing", provider.Config{}, false},
	}
	for _, c := range cases {
		if got := UsesHMAC(c.cfg); got != c.want {
			t.Errorf("%s: UsesHMAC = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestS3Config(t *testing.T) {
	in := provider.Config{CloudType: provider.Google, AccessKey: "GOOG1", SecretKey: "s"}
	out := S3Config(in)
	if out.CloudType != provider.S3Generic || out.Endpoint != HMACEndpoint || out.Region != "auto" ||
		out.AccessKey != "GOOG1" || out.SecretKey != "s" {
		t.Errorf("S3Config = %#v", out)
	}
	in.Endpoint, in.Region = "https://proxy.example", "europe-west1"
	if out := S3Config(in); out.Endpoint != in.Endpoint || out.Region != in.Region {
		t.Errorf("S3Config dropped overrides: %#v", out)
	}
}

// TestOpenHMAC checks both routes of HMAC keys: ErrUnsupported without an
// S3 driver, and delegation to it (with S3Config) once one is registered.
func TestOpenHMAC(t *testing.T) {
	if provider.Registered(provider.S3Generic.DriverName()) {
		t.Skip("a real S3 driver is linked into this test binary")
	}
	ctx := context.Background()
	cfg := provider.Config{CloudType: provider.Google, AccessKey: "GOOG1", SecretKey: "secret"}
	if _, err := Open(ctx, cfg); !errors.Is(err, provider.ErrUnsupported) || !strings.Contains(err.Error(), HMACEndpoint) {
		t.Errorf("gcs.Open with HMAC keys = %v, want ErrUnsupported naming %s", err, HMACEndpoint)
	}
	_, err := provider.Open(ctx, cfg)
	if !errors.Is(err, provider.ErrUnsupported) || !strings.Contains(err.Error(), HMACEndpoint) {
		t.Errorf("provider.Open with HMAC keys = %v, want ErrUnsupported naming %s", err, HMACEndpoint)
	}

	var got provider.Config
	provider.Register(provider.S3Generic.DriverName(), func(_ context.Context, c provider.Config) (provider.Storage, error) {
		got = c
		return nil, errDelegated
	})
	if _, err := provider.Open(ctx, cfg); !errors.Is(err, errDelegated) {
		t.Fatalf("Open with HMAC keys and an S3 driver = %v, want the S3 driver's answer", err)
	}
	if got != S3Config(cfg) {
		t.Errorf("S3 driver opened with %#v, want %#v", got, S3Config(cfg))
	}
}

var errDelegated = errors.New("delegated")

func TestParseSettings(t *testing.T) {
	ctx := context.Background()
	// No credentials and no emulator: refused, never the host's ADC.
	if _, err := parseSettings(ctx, provider.Config{}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("no credentials: %v, want ErrInvalid", err)
	}
	// Credential types that run or fetch things are refused.
	ext := `{"type":"external_account","credential_source":{"executable":{"command":"/bin/true"}}}`
	if _, err := parseSettings(ctx, provider.Config{CredentialsData: ext}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("external_account: %v, want ErrInvalid", err)
	}
	if _, err := parseSettings(ctx, provider.Config{CredentialsData: "{not json"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("bad JSON: %v, want ErrInvalid", err)
	}
	if _, err := parseSettings(ctx, provider.Config{CredentialsData: saJSON, Endpoint: "ftp://x"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("ftp endpoint: %v, want ErrInvalid", err)
	}
	// The emulator without credentials gets the fixed project.
	st, err := parseSettings(ctx, provider.Config{Endpoint: "http://127.0.0.1:4443"})
	if err != nil || st.project != emulatorProject || st.signHost != "127.0.0.1:4443" || !st.signInsecure {
		t.Errorf("emulator: %+v, %v", st, err)
	}
	// With a service account the project and signing key come from it.
	st, err = parseSettings(ctx, provider.Config{Endpoint: "http://127.0.0.1:4443/", CredentialsData: saJSON})
	if err != nil || st.project != "p1" || st.account.ClientEmail == "" {
		t.Errorf("emulator with key: %+v, %v", st, err)
	}
	st, err = parseSettings(ctx, provider.Config{SecretKey: saJSON})
	if err != nil || st.project != "p1" || st.signHost != "" {
		t.Errorf("real GCS: %+v, %v", st, err)
	}
}
