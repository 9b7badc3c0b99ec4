// Command mount serves the Amove HTTP API under /amove/ on an application's
// own mux, next to its other routes, on loopback:
//
//	go run ./examples/mount
//	curl http://127.0.0.1:8080/amove/openapi.json
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/httpapi"
	_ "github.com/amove/amove-go/provider/all"

	// The store "sqlite:" DSNs name.
	_ "github.com/amove/amove-go/store/sqlite"
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "amove-mount")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "amove.db"), KeyFile: filepath.Join(dir, "secret.key")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, "demo", amove.NewUser{Username: "demo", Role: amove.RoleDesktopAdmin})
	if err != nil {
		log.Fatal(err)
	}
	// The token goes to a 0600 file, not the log: logs must never carry
	// credentials.
	tok, err := c.IssueToken(ctx, admin.ID)
	if err != nil {
		log.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok.Token), 0o600); err != nil {
		log.Fatal(err)
	}
	api := httpapi.New(c, httpapi.Options{Roots: []string{dir}})
	defer api.Close()

	mux := http.NewServeMux()
	mux.Handle("/amove/", http.StripPrefix("/amove", api))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	log.Printf("API under http://127.0.0.1:8080/amove/ ; a token for user demo is in %s", tokenFile)
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}
