package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// ExampleNew mounts the API under /amove/ on an application's own mux and
// calls it as a client would: with a token in the query, and without one.
// The Client keeps its store in a temporary folder and every cloud account
// is an in-memory store, so the example needs no network beyond loopback.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "httpapi-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	mem := memory.New(memory.Options{})
	c, err := amove.New(ctx, amove.Options{
		DSN:     "sqlite:" + filepath.Join(dir, "amove.db"),
		KeyFile: filepath.Join(dir, "secret.key"),
		Logger:  slog.New(slog.DiscardHandler),
		OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			return mem, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, "Example Studio", amove.NewUser{Username: "ana", Role: amove.RoleDesktopAdmin})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.InsertAccount(ctx, admin.Principal(), amove.NewAccount{
		CloudType: provider.Wasabi, Name: "archive", Region: "us-east-1",
		AccessKey: "AKIAIOSFODNN7EXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}); err != nil {
		log.Fatal(err)
	}
	tok, err := c.IssueToken(ctx, admin.ID)
	if err != nil {
		log.Fatal(err)
	}

	// Local files the API may read or write must lie in the roots; form
	// uploads are staged in a private folder of the agent.
	api := httpapi.New(c, httpapi.Options{Roots: []string{dir}, TempDir: filepath.Join(dir, "staging"),
		Logger: slog.New(slog.DiscardHandler)})
	defer api.Close()
	mux := http.NewServeMux()
	mux.Handle("/amove/", http.StripPrefix("/amove", api))
	srv := httptest.NewServer(mux) // on 127.0.0.1: the API answers only to loopback names
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/amove/cloud/accounts?token=" + url.QueryEscape(tok.Token))
	if err != nil {
		log.Fatal(err)
	}
	var accounts []struct {
		Name      string `json:"name"`
		CloudType int    `json:"cloudType"`
		SecretKey string `json:"secretKey"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&accounts); err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	for _, a := range accounts {
		fmt.Println(a.Name, a.CloudType, a.SecretKey)
	}

	resp, err = http.Get(srv.URL + "/amove/cloud/accounts") // no token
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 200 OK
	// archive 2 ****EKEY
	// 401 Unauthorized
}
