package provider_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

func TestCloudTypeValues(t *testing.T) {
	// The wire values of the Amove API; they must never change.
	want := map[string]int{
		"AWS": 1, "Wasabi": 2, "Azure": 4, "S3Generic": 8, "Google": 16, "Frame": 32, "Cloudflare": 64,
		"Dropbox": 128, "Box": 256, "OneDrive": 512, "GoogleDrive": 1024, "LocalHttp": 2048,
		"FastrServer": 4096, "Atomosphere": 8192,
	}
	all := provider.CloudTypes()
	if len(all) != len(want) {
		t.Fatalf("%d cloud types, want %d", len(all), len(want))
	}
	for _, ct := range all {
		if want[ct.String()] != int(ct) {
			t.Errorf("%s = %d, want %d", ct, int(ct), want[ct.String()])
		}
		for _, s := range []string{ct.String(), strings.ToLower(ct.String()), fmt.Sprint(int(ct))} {
			got, err := provider.ParseCloudType(s)
			if err != nil || got != ct {
				t.Errorf("ParseCloudType(%q) = %v, %v", s, got, err)
			}
		}
		b, err := ct.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back provider.CloudType
		if err := back.UnmarshalText(b); err != nil || back != ct {
			t.Errorf("text round trip of %s gave %v, %v", ct, back, err)
		}
	}
	for _, bad := range []string{"", "3", "0", "-1", "S4", "16384", "aws2"} {
		if _, err := provider.ParseCloudType(bad); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("ParseCloudType(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if s := provider.CloudType(3).String(); s != "CloudType(3)" {
		t.Errorf("String of unknown = %q", s)
	}
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	if _, err := provider.Open(ctx, provider.Config{CloudType: 5}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Open unknown type: %v", err)
	}
	if _, err := provider.Open(ctx, provider.Config{}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Open without type or name: %v", err)
	}
	// Atomosphere has no driver in this test binary.
	if _, err := provider.Open(ctx, provider.Config{CloudType: provider.Atomosphere}); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("Open unregistered type: %v", err)
	}
	var got []provider.Config
	provider.Register(provider.FastrServer.DriverName(), func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
		got = append(got, cfg)
		return memory.New(memory.Options{}), nil
	})
	if !provider.Registered("fastr") {
		t.Error("Registered = false after Register")
	}
	// By cloud type and by name: the driver sees both filled in.
	for _, cfg := range []provider.Config{{CloudType: provider.FastrServer}, {Driver: "fastr"}} {
		got = nil
		if _, err := provider.Open(ctx, cfg); err != nil || len(got) != 1 {
			t.Fatalf("Open(%+v): %v, opened %d", cfg, err, len(got))
		}
		if got[0].CloudType != provider.FastrServer || got[0].Driver != "fastr" {
			t.Errorf("Open(%+v) passed cloud type %s, driver %q", cfg, got[0].CloudType, got[0].Driver)
		}
	}
	if _, err := provider.Open(ctx, provider.Config{Driver: "fastr", CloudType: provider.AWS}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Open with a product name of another type: %v", err)
	}
	for name, f := range map[string]func(){
		"twice": func() {
			provider.Register("fastr", func(context.Context, provider.Config) (provider.Storage, error) { return nil, nil })
		},
		"empty": func() {
			provider.Register("", func(context.Context, provider.Config) (provider.Storage, error) { return nil, nil })
		},
		"nil": func() { provider.Register("box", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register %s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// thirdParty is a driver of no cloud type: the in-memory store under a
// name of its own, the way a driver outside this module registers.
type thirdParty struct {
	*memory.Storage
	cfg provider.Config
}

// A driver registered under its own name opens by that name alone, gets
// the configuration as given, and works as a Storage; an unregistered name
// is ErrUnsupported.
func TestRegisterThirdPartyDriver(t *testing.T) {
	ctx := context.Background()
	const name = "example-thirdparty-test"
	if _, err := provider.Open(ctx, provider.Config{Driver: name}); !errors.Is(err, provider.ErrUnsupported) {
		t.Fatalf("Open before Register: %v, want ErrUnsupported", err)
	}
	mem := memory.New(memory.Options{})
	provider.Register(name, provider.OpenerOf(func(_ context.Context, cfg provider.Config) (*thirdParty, error) {
		if cfg.AccessKey != "key" {
			return nil, fmt.Errorf("%w: wrong key", provider.ErrUnauthenticated)
		}
		return &thirdParty{Storage: mem, cfg: cfg}, nil
	}))
	if !slices.Contains(provider.Drivers(), name) || !provider.Registered(name) {
		t.Fatalf("Drivers() = %v, want it to hold %q", provider.Drivers(), name)
	}
	st, err := provider.Open(ctx, provider.Config{Driver: name, AccessKey: "wrong"})
	if !errors.Is(err, provider.ErrUnauthenticated) || st != nil {
		t.Fatalf("Open with a refused key = %v, %v; want a nil Storage and ErrUnauthenticated", st, err)
	}
	st, err = provider.Open(ctx, provider.Config{Driver: name, AccessKey: "key", Endpoint: "https://example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tp := st.(*thirdParty)
	if tp.cfg.CloudType != 0 || tp.cfg.Driver != name || tp.cfg.Endpoint != "https://example.test" {
		t.Errorf("driver got %+v", tp.cfg)
	}
	if err := mem.CreateBucket(ctx, "b", ""); err != nil {
		t.Fatal(err)
	}
	data := []byte("bytes through a third-party driver")
	if _, err := st.Write(ctx, "b", "k", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := st.NewRangeReader(ctx, "b", "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("read back %q, %v; want %q", back, err, data)
	}
}

func TestDriverNames(t *testing.T) {
	seen := map[string]provider.CloudType{}
	for _, ct := range provider.CloudTypes() {
		name := ct.DriverName()
		if name == "" || name != strings.ToLower(name) {
			t.Errorf("%s: driver name %q, want a lower-case name", ct, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s share driver name %q", ct, other, name)
		}
		seen[name] = ct
		if back, ok := provider.CloudTypeOfDriver(name); !ok || back != ct {
			t.Errorf("CloudTypeOfDriver(%q) = %s, %v; want %s", name, back, ok, ct)
		}
	}
	if provider.AWS.DriverName() != "s3" || provider.Google.DriverName() != "gcs" || provider.CloudType(3).DriverName() != "" {
		t.Error("driver names changed: stored accounts and configurations name them")
	}
	if _, ok := provider.CloudTypeOfDriver("example-thirdparty-test"); ok {
		t.Error("a third-party name maps to a cloud type")
	}
}

func TestConfigHidesSecrets(t *testing.T) {
	cfg := provider.Config{CloudType: provider.AWS, AccessKey: "AKIAEXAMPLEACCESSKEY", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET", CredentialsData: `{"refresh_token":"1//0gSECRETREFRESH"}`}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("open", "cfg", cfg)
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logged.String()} {
		for _, secret := range []string{"wJalrXUtnFEMI", "AKIAEXAMPLE", "0gSECRETREFRESH"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q printed: %s", secret, out)
			}
		}
	}
	if got := provider.Mask("wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET"); got != "****CRET" {
		t.Errorf("Mask = %q", got)
	}
	if got := provider.Mask("short"); got != "****" {
		t.Errorf("Mask short = %q", got)
	}
}

func TestRateLimitError(t *testing.T) {
	inner := errors.New("SlowDown")
	err := fmt.Errorf("put: %w", &provider.RateLimitError{RetryAfter: 3 * time.Second, Err: inner})
	if !errors.Is(err, provider.ErrRateLimited) || !errors.Is(err, inner) {
		t.Errorf("errors.Is fails on %v", err)
	}
	if d, ok := provider.RetryAfter(err); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	if _, ok := provider.RetryAfter(inner); ok {
		t.Error("RetryAfter of a plain error")
	}
	w := provider.Wrap(provider.ErrNotFound, inner, "b/k")
	if !errors.Is(w, provider.ErrNotFound) || !errors.Is(w, inner) || !strings.Contains(w.Error(), "b/k") {
		t.Errorf("Wrap = %v", w)
	}
	if provider.Wrap(provider.ErrNotFound, nil, "x") != nil {
		t.Error("Wrap(nil) != nil")
	}
}

// pager is a Storage whose listing returns fixed pages, to test Walk alone.
type pager struct {
	provider.Storage
	pages []provider.Page
	calls int
}

func (p *pager) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	i := 0
	if opts.Token != "" {
		fmt.Sscan(opts.Token, &i)
	}
	p.calls++
	if i >= len(p.pages) {
		return provider.Page{}, errors.New("bad token")
	}
	return p.pages[i], nil
}

func TestWalk(t *testing.T) {
	p := &pager{pages: []provider.Page{
		{Objects: []provider.Object{{Key: "a"}, {Key: "b"}}, NextToken: "1"},
		{Objects: []provider.Object{{Key: "c"}}, NextToken: "2"},
		{Objects: []provider.Object{{Key: "d"}}},
	}}
	var keys []string
	for o, err := range provider.Walk(context.Background(), p, "b", provider.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, "") != "abcd" || p.calls != 3 {
		t.Errorf("Walk gave %v in %d calls", keys, p.calls)
	}
	// Stopping early fetches no more pages.
	p.calls = 0
	for range provider.Walk(context.Background(), p, "b", provider.ListOptions{}) {
		break
	}
	if p.calls != 1 {
		t.Errorf("early stop made %d calls", p.calls)
	}
	// A repeated token is an error, not an endless loop.
	loop := &pager{pages: []provider.Page{{Objects: []provider.Object{{Key: "a"}}, NextToken: "0"}}}
	var last error
	n := 0
	for _, err := range provider.Walk(context.Background(), loop, "b", provider.ListOptions{Token: "0"}) {
		last = err
		if n++; n > 10 {
			break
		}
	}
	if !errors.Is(last, provider.ErrInvalid) {
		t.Errorf("repeated token: %v", last)
	}
}

func TestParseRetryAfter(t *testing.T) {
	cases := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"X-Ms-Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}}, 0},
	}
	for _, c := range cases {
		if got := provider.ParseRetryAfter(c.h); got != c.want {
			t.Errorf("ParseRetryAfter(%v) = %v, want %v", c.h, got, c.want)
		}
	}
	future := http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}
	if got := provider.ParseRetryAfter(future); got < 80*time.Second || got > 90*time.Second {
		t.Errorf("Retry-After date = %v, want about 90s", got)
	}
}

func TestCombineCRC32C(t *testing.T) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	whole := crc32.Checksum(data, provider.CRC32C)
	for _, cut := range []int{0, 1, 1000, 1 << 20, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		got := provider.CombineCRC32C(crc32.Checksum(a, provider.CRC32C), crc32.Checksum(b, provider.CRC32C), int64(len(b)))
		if got != whole {
			t.Errorf("cut at %d: combined %08x, want %08x", cut, got, whole)
		}
	}
	// Three parts folded left to right, as a download's ranges are.
	acc := crc32.Checksum(nil, provider.CRC32C)
	for off := 0; off < len(data); off += 1 << 20 {
		p := data[off:min(off+1<<20, len(data))]
		acc = provider.CombineCRC32C(acc, crc32.Checksum(p, provider.CRC32C), int64(len(p)))
	}
	if acc != whole {
		t.Errorf("folded %08x, want %08x", acc, whole)
	}
}
