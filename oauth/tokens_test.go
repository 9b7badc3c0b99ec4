package oauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
)

// savedTokens is the save function of a program that keeps its token
// itself: it records every token it is given.
type savedTokens struct {
	mu   sync.Mutex
	toks []*oauth2.Token
}

func (s *savedTokens) save(_ context.Context, tok *oauth2.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toks = append(s.toks, tok)
	return nil
}

func (s *savedTokens) all() []*oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*oauth2.Token(nil), s.toks...)
}

// dropboxApp is the Dropbox app pointed at the fake.
func dropboxApp(srv *fake.Server) oauth.Provider {
	app := oauth.Dropbox("app", "secret")
	app.Config.Endpoint = oauth2.Endpoint{AuthURL: srv.URL + "/oauth2/authorize", TokenURL: srv.URL + "/oauth2/token"}
	return app
}

// TestTokenSourceWithDriverOnly is the SDK user who holds a Dropbox token
// and opens the driver through provider alone, with no amove.Client: the
// fake expires every access token, the driver's next calls are refused,
// the source refreshes once, the save function gets the new token (with
// the refresh token kept), and the bytes written come back identical.
func TestTokenSourceWithDriverOnly(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, refresh, expiry := srv.IssueToken()
	ctx := context.Background()
	var saved savedTokens
	ts := oauth.NewTokenSource(ctx, dropboxApp(srv).Config,
		&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: expiry, TokenType: "Bearer"},
		saved.save, oauth.TokenSourceOptions{Name: "test account"})
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.Dropbox, Endpoint: srv.URL, TokenSource: ts})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.ListBuckets(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(saved.all()); n != 0 || srv.Refreshes() != 0 {
		t.Fatalf("a valid token was refreshed (%d saves, %d refreshes)", n, srv.Refreshes())
	}

	srv.ExpireTokens() // the provider now refuses the token the source still thinks valid
	data := bytes.Repeat([]byte("amove oauth "), 1000)
	bucket := dropbox.RootBucket
	if _, err := st.Write(ctx, bucket, "dir/hello.txt", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatalf("write after expiry: %v", err)
	}
	r, err := st.NewRangeReader(ctx, bucket, "dir/hello.txt", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
	}

	toks := saved.all()
	if len(toks) != 1 || srv.Refreshes() != 1 {
		t.Fatalf("%d saves, %d refreshes; want one of each", len(toks), srv.Refreshes())
	}
	cur, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if toks[0].AccessToken == access || toks[0].AccessToken != cur.AccessToken || toks[0].RefreshToken != refresh {
		t.Errorf("saved token: new access %v, current %v, refresh token kept %v",
			toks[0].AccessToken != access, toks[0].AccessToken == cur.AccessToken, toks[0].RefreshToken == refresh)
	}
	// What was saved is what a program stores and reads back.
	cd, err := oauth.MarshalToken(toks[0])
	if err != nil {
		t.Fatal(err)
	}
	back, err := oauth.ParseToken(cd)
	if err != nil || back.AccessToken != toks[0].AccessToken || back.RefreshToken != refresh {
		t.Errorf("stored token does not read back: %v", err)
	}
}

// TestTokenSourceRefreshOnce: many callers find the token expired at once;
// one refresh and one save serve them all.
func TestTokenSourceRefreshOnce(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, refresh, _ := srv.IssueToken()
	var saved savedTokens
	// An expiry in the past: the source refreshes before using it.
	ts := oauth.NewTokenSource(context.Background(), dropboxApp(srv).Config,
		&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Unix(1, 0)}, saved.save, oauth.TokenSourceOptions{})
	var wg sync.WaitGroup
	toks := make([]string, 20)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := ts.Token()
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok.AccessToken
		}()
	}
	wg.Wait()
	if srv.Refreshes() != 1 || len(saved.all()) != 1 {
		t.Fatalf("%d refreshes, %d saves; want 1 and 1", srv.Refreshes(), len(saved.all()))
	}
	for _, tok := range toks {
		if tok != toks[0] || tok == access {
			t.Fatalf("callers got different or stale tokens: %q", toks)
		}
	}
}

// TestTokenSourceRevoked: a refused refresh token is ErrUnauthenticated
// naming the account, without a token in the message, and nothing is saved.
func TestTokenSourceRevoked(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, refresh, _ := srv.IssueToken()
	srv.RevokeRefreshTokens()
	var saved savedTokens
	ts := oauth.NewTokenSource(context.Background(), dropboxApp(srv).Config,
		&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Unix(1, 0)}, saved.save,
		oauth.TokenSourceOptions{Name: `Dropbox account "Work"`})
	_, err := ts.Token()
	if !errors.Is(err, provider.ErrUnauthenticated) || !strings.Contains(err.Error(), `"Work"`) {
		t.Fatalf("got %v, want ErrUnauthenticated naming the account", err)
	}
	if strings.Contains(err.Error(), access) || strings.Contains(err.Error(), refresh) {
		t.Errorf("error leaks a token: %v", err)
	}
	if n := len(saved.all()); n != 0 {
		t.Errorf("%d saves after a refused refresh", n)
	}
}
