package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specCheck is an http.RoundTripper that checks every request the tests
// send to the agent, and every answer, against the OpenAPI document the
// agent itself serves at /openapi.json, so the document cannot drift from
// the handlers.
//
//   - An answer must be one the document describes for the operation: its
//     status, its content type and its body's schema.
//   - A request the document rejects (the tests send many on purpose) must
//     not succeed: the agent accepting what its document forbids is a drift
//     too. A request the document accepts is not required to succeed: the
//     document cannot say which account ids exist.
//   - A request for a path or method the document does not have must be
//     refused (403 or 404).
type specCheck struct {
	t      testing.TB
	router routers.Router
	next   http.RoundTripper
}

// newSpecCheck loads the document from the agent at base and checks it
// (openapi3.T.Validate) before any request relies on it.
func newSpecCheck(t testing.TB, base string) *specCheck {
	t.Helper()
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %v", res.StatusCode, err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	// Routes are matched on the test server's address.
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specCheck{t: t, router: r, next: http.DefaultTransport}
}

// testKey is the request context's key for the test that sends it, which
// is the one a mismatch fails (a subtest rather than the test that made the
// env).
type testKey struct{}

// client is an http.Client that checks through c.
func (c *specCheck) client() *http.Client { return &http.Client{Transport: c} }

// tokenPresent is the document's security, checked for presence only: the
// agent decides whether a token is good.
func tokenPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "queryToken":
		if r.URL.Query().Get("token") != "" {
			return nil
		}
	case "bearer":
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return nil
		}
	}
	return errors.New("no " + in.SecuritySchemeName)
}

func (c *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if msg := c.check(req, body, res, resBody); msg != "" {
		t := c.t
		if tt, ok := req.Context().Value(testKey{}).(testing.TB); ok {
			t = tt
		}
		t.Errorf("OpenAPI: %s %s: %s", req.Method, req.URL.Path, msg)
	}
	return res, nil
}

// check returns what is wrong with the exchange, or "".
func (c *specCheck) check(req *http.Request, body []byte, res *http.Response, resBody []byte) string {
	if req.URL.Path == "/" || strings.HasPrefix(req.URL.Path, "/web/") {
		return "" // the web page is for people, not the API; web_test.go checks it
	}
	ctx := context.Background()
	// The router and the validators read their own copy.
	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	route, pathParams, err := c.router.FindRoute(r)
	if err != nil {
		if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusForbidden {
			return ""
		}
		return fmt.Sprintf("not in the document (%v), yet answered %d", err, res.StatusCode)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: tokenPresent, MultiError: true}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && res.StatusCode < 300 && res.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Sprintf("the document rejects the request, yet the agent answered %d: %v", res.StatusCode, reqErr)
	}
	// The response is checked against the request as sent.
	r.Body = io.NopCloser(bytes.NewReader(body))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Sprintf("the answer %d %s does not match the document: %v", res.StatusCode, truncate(resBody), err)
	}
	return ""
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// TestOpenAPIComplete requires an operation for every route of the table
// (and none for a route that is not there), and that every operation
// documents its success and the answers every route can give.
func TestOpenAPIComplete(t *testing.T) {
	s := newMemoryEnv(t).api
	routed := map[string]bool{}
	for _, rt := range s.table() {
		key := rt.method + " " + rt.path
		routed[key] = true
		if _, ok := operations[key]; !ok {
			t.Errorf("%s: no entry in operations", key)
		}
	}
	for key := range operations {
		if !routed[key] {
			t.Errorf("%s: in operations but not routed", key)
		}
	}

	b, err := json.Marshal(s.openAPIDoc())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid document: %v", err)
	}
	if n := len(doc.Paths.Map()); n < 60 {
		t.Fatalf("%d paths", n)
	}
	for _, rt := range s.table() {
		op := doc.Paths.Find(rt.path).GetOperation(rt.method)
		if op == nil {
			t.Errorf("%s %s: no operation", rt.method, rt.path)
			continue
		}
		o := operations[rt.method+" "+rt.path]
		ok := o.ok
		if ok == 0 {
			ok = 200
		}
		want := []int{ok, 403, 499, 500}
		if rt.auth != authPublic {
			want = append(want, 401)
		}
		for _, status := range want {
			if op.Responses.Status(status) == nil {
				t.Errorf("%s %s: no %d response", rt.method, rt.path, status)
			}
		}
		if st := op.Responses.Status(499); st != nil && st.Value.Content.Get("application/problem+json") == nil {
			t.Errorf("%s %s: 499 without the error model", rt.method, rt.path)
		}
		if strings.Contains(rt.path, "{transferId}") && len(op.Parameters) == 0 {
			t.Errorf("%s %s: no path parameter", rt.method, rt.path)
		}
		if (rt.method == "PUT" || strings.HasSuffix(rt.path, "initiate") || strings.Contains(rt.path, "list_")) && op.RequestBody == nil {
			t.Errorf("%s %s: no request body", rt.method, rt.path)
		}
		if rt.auth != authPublic && (op.Security == nil || len(*op.Security) == 0) {
			t.Errorf("%s %s: no security", rt.method, rt.path)
		}
	}
}

// TestSpecCheckCatchesDrift makes sure the checker the end-to-end tests
// rely on reports an answer the document does not describe: a field too
// many, a field missing, an undocumented status, and a request it rejects
// that the agent accepted.
func TestSpecCheckCatchesDrift(t *testing.T) {
	e := newMemoryEnv(t)
	e.specOnce.Do(func() { e.spec = newSpecCheck(t, e.srv.URL) })
	req := func(method, path, body string) *http.Request {
		r, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	answer := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}}
	}
	good := `{"transferId":"x","status":"running","transferredBytes":1,"totalBytes":2,"startTime":"2026-01-01T00:00:00Z",` +
		`"endTime":null,"errorMessage":null,"pausedDuration":null,"sourceBucket":"","sourcePath":"","targetBucket":"",` +
		`"targetPath":"","progress":50,"kind":"upload","filesDone":0,"filesTotal":1,"filesFailed":0,"bytesPerSecond":0,` +
		`"etaSeconds":0,"checksumVerified":false}`
	status := req("GET", "/cloud/client_transfer/x/status?token=t", "")
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		body   string
		bad    bool
	}{
		{"documented answer", status, 200, good, false},
		{"extra field", status, 200, strings.Replace(good, `"kind"`, `"extra":1,"kind"`, 1), true},
		{"missing field", status, 200, strings.Replace(good, `"progress":50,`, ``, 1), true},
		{"status not in the enum", status, 200, strings.Replace(good, `"running"`, `"Running"`, 1), true},
		{"undocumented status", status, 418, `{}`, true},
		{"rejected request accepted", req("POST", "/cloud/list_objects?token=t", `{"request":{}}`), 200, `{"data":[],"continuationToken":""}`, true},
		{"rejected request refused", req("POST", "/cloud/list_objects?token=t", `{"request":{}}`), 499,
			`{"type":"DEFAULT","status":499,"errors":{"DEFAULT":["bucketName is required"]}}`, false},
	} {
		res := answer(c.status, c.body)
		if c.status == 499 {
			res.Header.Set("Content-Type", "application/problem+json")
		}
		var body []byte
		if c.req.Body != nil {
			body, _ = io.ReadAll(c.req.Body)
		}
		msg := e.spec.check(c.req, body, res, []byte(c.body))
		if (msg != "") != c.bad {
			t.Errorf("%s: check said %q", c.name, msg)
		}
	}
}

// TestErrorsDocListsStatuses: docs/errors.md's status table has a row for
// every status the OpenAPI document says some operation sends, and no row
// for a status none sends.
func TestErrorsDocListsStatuses(t *testing.T) {
	b, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) > 6 && l[0] == '|' && l[1] == ' ' && l[5] == ' ' && strings.Trim(l[2:5], "0123456789") == "" {
			documented[l[2:5]] = true
		}
	}
	e := newMemoryEnv(t)
	sent := map[string]bool{}
	for _, item := range e.api.openAPIDoc()["paths"].(map[string]any) {
		for _, op := range item.(map[string]any) {
			for status := range op.(map[string]any)["responses"].(map[string]any) {
				sent[status] = true
			}
		}
	}
	for s := range sent {
		if !documented[s] {
			t.Errorf("docs/errors.md has no row for %s", s)
		}
	}
	for s := range documented {
		if !sent[s] {
			t.Errorf("docs/errors.md documents %s, which no operation sends", s)
		}
	}
}
