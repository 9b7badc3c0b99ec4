package httpapi

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// ours are the pairs this agent adds to the 64 documented ones.
var ours = []string{"POST /authentication/login", "GET /openapi.json"}

// documented reads testdata/endpoints.txt: the 64 method+path pairs of the
// spec, one per line.
func documented(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/endpoints.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != 64 {
		t.Fatalf("endpoints.txt has %d pairs, want 64", len(out))
	}
	return out
}

// TestEndpointsRouted walks endpoints.txt: every pair is routed (never the
// mux's 404 or 405) and, without a token, answers 401 with the error model.
func TestEndpointsRouted(t *testing.T) {
	e := newMemoryEnv(t)
	for _, pair := range documented(t) {
		method, path, _ := strings.Cut(pair, " ")
		path = strings.ReplaceAll(path, "{transferId}", "00000000-0000-4000-8000-000000000000")
		t.Run(pair, func(t *testing.T) {
			// With a valid token: whatever the handler answers, it is not
			// the mux's "no such route". A handler's own 404 (an unknown
			// transfer id) is problem+json with NOT_FOUND.
			var r reply
			if strings.HasPrefix(path, "/api/v1/") {
				r = e.hosted(t, method, path, e.aliceTok, "{}")
			} else {
				r = e.cloud(t, method, path, e.aliceTok, "{}")
			}
			switch {
			case r.status == 405:
				t.Fatalf("405: %s", r.body)
			case r.status == 404 && r.code() != "NOT_FOUND":
				t.Fatalf("404 from the mux: %s", r.body)
			}
			// Without a token (and nobody signed in to the agent): 401.
			wantError(t, e.request(t, method, path, nil, "{}"), 401, "AUTH")
		})
	}
}

// TestOpenAPIMatchesRoutes checks that the route table and /openapi.json
// list the 64 documented pairs plus ours, and nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newMemoryEnv(t)
	want := append(documented(t), ours...)
	slices.Sort(want)

	var table []string
	for _, rt := range e.api.routes {
		table = append(table, rt.method+" "+rt.path)
	}
	slices.Sort(table)
	if !slices.Equal(table, want) {
		t.Errorf("route table differs from endpoints.txt + ours:\n%s", diff(want, table))
	}

	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	must(t, e.request(t, "GET", "/openapi.json", nil, nil), 200, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	var listed []string
	for p, ops := range doc.Paths {
		for m, op := range ops {
			listed = append(listed, strings.ToUpper(m)+" "+p)
			if op["operationId"] == "" || op["responses"] == nil {
				t.Errorf("%s %s: operation without operationId or responses", m, p)
			}
		}
	}
	slices.Sort(listed)
	// The document also has the /notification upgrade, which is not in
	// the route table (the hub serves it).
	want = append(want, "GET /notification")
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("/openapi.json differs from endpoints.txt + ours:\n%s", diff(want, listed))
	}
}

// diff lists what one sorted list has that the other lacks.
func diff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("missing " + w + "\n")
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("extra   " + g + "\n")
		}
	}
	return b.String()
}
