// Package webtest drives the agent's web page (httpapi/web) in a real
// headless Chromium. It is a package of its own so that chromedp stays out
// of package httpapi's dependencies.
package webtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"golang.org/x/time/rate"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	s3driver "github.com/amove/amove-go/provider/s3"

	_ "github.com/amove/amove-go/store/sqlite"
)

const (
	adminPassword = "web-admin-password-1"
	// throttle is the proxy's upload rate to MinIO: slow enough that the
	// big file's upload can be paused half-way, on any machine.
	throttle = 4 << 20
	bigSize  = 24 << 20
)

// TestWebPage signs in, adds a MinIO account, uploads (drag and drop, then
// a file input), watches progress, pauses and resumes, downloads and
// compares bytes, pages through a folder and deletes, failing on any
// console error or uncaught exception of the page.
func TestWebPage(t *testing.T) {
	chrome := testenv.RequireCommand(t, "chromium")
	s3env := testenv.RequireS3(t)
	dir := t.TempDir()
	bucket := newBucket(t, s3env)
	proxy := throttledProxy(t, strings.TrimPrefix(s3env.Endpoint, "http://"), throttle)

	srv, answers := startAgent(t, dir)
	downloads := filepath.Join(dir, "downloads")
	shots := screenshotDir(t)
	b := newBrowser(t, chrome, downloads)

	// Sign in.
	b.run(chromedp.Navigate(srv.URL + "/"))
	b.waitJS(`!document.getElementById('view-signin').hidden`)
	b.shot(shots, "1-signin")
	b.run(chromedp.SendKeys(chromedp.CSS("#signin-username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), adminPassword),
		chromedp.Click(chromedp.CSS("#signin-submit")))
	b.waitJS(`!document.getElementById('view-accounts').hidden && document.getElementById('ws-state').textContent === 'live'`)

	// Add the MinIO account (through the throttling proxy), test it first.
	b.run(chromedp.SetValue(chromedp.CSS("#acct-type"), "8"),
		chromedp.SendKeys(chromedp.CSS("#acct-name"), "minio"),
		chromedp.SendKeys(chromedp.CSS("#acct-endpoint"), proxy),
		chromedp.SendKeys(chromedp.CSS("#acct-region"), "us-east-1"),
		chromedp.SendKeys(chromedp.CSS("#acct-access"), s3env.AccessKey),
		chromedp.SendKeys(chromedp.CSS("#acct-secret"), s3env.SecretKey),
		chromedp.Click(chromedp.CSS("#acct-test")))
	b.waitJS(`document.getElementById('acct-result').textContent.startsWith('Works')`)
	b.run(chromedp.Click(chromedp.CSS("#acct-add")))
	b.waitJS(`document.querySelectorAll('#accounts-body tr').length === 1`)
	b.run(chromedp.Click(chromedp.CSS(`#accounts-body [data-action=share]`)))
	b.waitJS(`document.querySelector('#accounts-body [data-action=share]').textContent === 'Unshare'`)
	b.run(chromedp.Click(chromedp.CSS(`#accounts-body [data-action=test]`)))
	b.waitJS(`document.querySelector('#accounts-body .result').textContent.startsWith('Works')`)
	b.shot(shots, "2-accounts")

	// No secret reaches the page: not the DOM, not storage, not the API's
	// answer the page reads.
	var token, page, stored string
	token = b.eval(`sessionStorage.getItem('amove.token')`)
	page = b.eval(`document.documentElement.outerHTML`)
	stored = b.eval(`JSON.stringify(Object.assign({}, sessionStorage, localStorage))`)
	accounts := get(t, srv.URL+"/cloud/accounts", token)
	for what, s := range map[string]string{"the page": page, "the page's storage": stored, "GET /cloud/accounts": accounts,
		"the agent's answers to the page": answers.String()} {
		if strings.Contains(s, s3env.SecretKey) {
			t.Errorf("%s holds the secret key", what)
		}
	}

	// Browse: choose the bucket, make a folder, go in.
	b.run(chromedp.Click(chromedp.CSS(`#accounts-body [data-action=browse]`)))
	b.waitJS(fmt.Sprintf(`[...document.getElementById('br-bucket').options].some(o => o.value === %q)`, bucket))
	b.eval(fmt.Sprintf(`(() => { const s = document.getElementById('br-bucket'); s.value = %s; s.dispatchEvent(new Event('change')); return ''; })()`, jsString(bucket)))
	b.waitJS(`document.getElementById('br-crumbs').textContent === ` + jsString(bucket))
	b.run(chromedp.SendKeys(chromedp.CSS("#folder-name"), "docs"), chromedp.Click(chromedp.CSS("#folder-create")))
	b.waitJS(`document.querySelector('#objects-body tr[data-key="docs/"] a.folder') !== null`)
	b.run(chromedp.Click(chromedp.CSS(`#objects-body tr[data-key="docs/"] a.folder`)))
	b.waitJS(`document.getElementById('br-crumbs').textContent.endsWith('docs')`)

	// Upload a small file by drag and drop: a drop event carrying a File,
	// as the browser makes it from a dragged file.
	small := strings.Repeat("hello from the web page\n", 1000)
	b.eval(fmt.Sprintf(`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([%s], 'hello.txt', {type: 'text/plain'}));
		document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		return '';
	})()`, jsString(small)))
	b.run(chromedp.Click(chromedp.CSS("#nav-transfers")))
	card := b.transferCard("docs/hello.txt")
	b.waitJS(fmt.Sprintf(`document.getElementById(%q).dataset.state === 'completed' && document.getElementById(%q).dataset.progress === '100'`, card, card))
	b.shot(shots, "3-transfers")

	// Download it through the page: the bytes that went up come back.
	b.show("browser")
	b.waitJS(`document.querySelector('#objects-body tr[data-key="docs/hello.txt"]') !== null`)
	b.shot(shots, "4-browser")
	got := b.download(`#objects-body tr[data-key="docs/hello.txt"] [data-action=download]`)
	if string(got) != small {
		t.Fatalf("downloaded %d bytes, uploaded %d: they differ", len(got), len(small))
	}

	// A big upload through the file input, paused and resumed.
	big := make([]byte, bigSize)
	_, _ = rand.Read(big)
	bigPath := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(bigPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.SetUploadFiles(chromedp.CSS("#br-file"), []string{bigPath}))
	b.run(chromedp.Click(chromedp.CSS("#nav-transfers")))
	card = b.transferCard("docs/big.bin")
	q := fmt.Sprintf(`document.getElementById(%q)`, card)
	b.waitJS(q + `.dataset.state === 'running' && Number(` + q + `.dataset.progress) > 0`)
	b.run(chromedp.Click(chromedp.CSS("#" + card + " [data-action=pause]")))
	b.waitJS(q + `.dataset.state === 'paused'`)
	var before, after string
	before = b.eval(q + `.dataset.progress`)
	time.Sleep(1500 * time.Millisecond)
	after = b.eval(q + `.dataset.progress`)
	if before != after || before == "100" {
		t.Fatalf("paused at %s %%, then %s %%", before, after)
	}
	b.shot(shots, "5-paused")
	b.run(chromedp.Click(chromedp.CSS("#" + card + " [data-action=resume]")))
	b.waitJS(q + `.dataset.state === 'completed' && ` + q + `.dataset.progress === '100'`)
	points := b.eval(q + `.querySelector('svg.rate').dataset.points || '0'`)
	if n, _ := strconv.Atoi(points); n < 3 {
		t.Errorf("the throughput chart has %s points", points)
	}
	b.shot(shots, "6-resumed")

	// Another big upload, cancelled: it never becomes an object.
	big2 := filepath.Join(dir, "cancelled.bin")
	if err := os.WriteFile(big2, big[:bigSize/2], 0o600); err != nil {
		t.Fatal(err)
	}
	b.show("browser")
	b.run(chromedp.SetUploadFiles(chromedp.CSS("#br-file"), []string{big2}),
		chromedp.Click(chromedp.CSS("#nav-transfers")))
	card = b.transferCard("docs/cancelled.bin")
	q = fmt.Sprintf(`document.getElementById(%q)`, card)
	b.waitJS(q + `.dataset.state === 'running'`)
	b.run(chromedp.Click(chromedp.CSS("#" + card + " [data-action=cancel]")))
	b.waitJS(q + `.dataset.state === 'cancelled'`)

	// Paging: one key a page (docs/ holds its marker, big.bin and
	// hello.txt; the marker takes no slot), so one row, then "Load more".
	b.show("browser")
	b.waitJS(`document.querySelector('#objects-body tr[data-key="docs/big.bin"]') !== null`)
	if b.eval(`String(document.querySelector('#objects-body tr[data-key="docs/cancelled.bin"]') !== null)`) == "true" {
		t.Error("the cancelled upload is listed")
	}
	b.eval(`document.getElementById('br-pagesize').value = '1'`)
	b.run(chromedp.Click(chromedp.CSS("#br-refresh")))
	b.waitJS(`document.querySelectorAll('#objects-body tr').length === 1 && !document.getElementById('br-more').hidden`)
	b.run(chromedp.Click(chromedp.CSS("#br-more")))
	b.waitJS(`document.querySelectorAll('#objects-body tr').length === 2 && document.getElementById('br-more').hidden`)

	got = b.download(`#objects-body tr[data-key="docs/big.bin"] [data-action=download]`)
	if !bytes.Equal(got, big) {
		t.Fatalf("downloaded %d bytes of big.bin, uploaded %d: they differ", len(got), len(big))
	}

	// Delete (two clicks: the button asks to confirm).
	del := `#objects-body tr[data-key="docs/hello.txt"] [data-action=delete]`
	b.run(chromedp.Click(chromedp.CSS(del)), chromedp.Click(chromedp.CSS(del)))
	b.waitJS(`document.querySelector('#objects-body tr[data-key="docs/hello.txt"]') === null && document.querySelector('#objects-body tr[data-key="docs/big.bin"]') !== null`)
	b.shot(shots, "7-deleted")

	// Delete the account too, and sign out.
	b.show("accounts")
	b.waitJS(`document.querySelectorAll('#accounts-body tr').length === 1`)
	b.run(chromedp.Click(chromedp.CSS(`#accounts-body [data-action=delete]`)),
		chromedp.Click(chromedp.CSS(`#accounts-body [data-action=delete]`)))
	b.waitJS(`document.querySelectorAll('#accounts-body tr').length === 0`)
	b.run(chromedp.Click(chromedp.CSS("#signout")))
	b.waitJS(`!document.getElementById('view-signin').hidden && sessionStorage.length === 0`)

	// The sweep of the agent's answers saw them all (the sign-in's token
	// among them), and no secret in any.
	if all := answers.String(); !strings.Contains(all, "jwtToken") || strings.Contains(all, s3env.SecretKey) {
		t.Errorf("the agent's answers to the page: %d bytes, token seen %v, secret seen %v",
			len(all), strings.Contains(all, "jwtToken"), strings.Contains(all, s3env.SecretKey))
	}
	b.checkConsole()
}

// teeWriter copies a response body into buf.
type teeWriter struct {
	http.ResponseWriter
	buf *syncBuffer
}

func (w teeWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent serves an agent (httpapi on a Client with SQLite, user admin)
// on 127.0.0.1. Every answer it gives the page is kept in answers, to
// check that none holds a secret.
func startAgent(t *testing.T, dir string) (srv *httptest.Server, answers *syncBuffer) {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	c, err := amove.New(ctx, amove.Options{
		DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"), Logger: logger,
		Transfers: amove.TransferOptions{PartSize: 5 << 20, Concurrency: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.CreateTenant(ctx, "web", amove.NewUser{Username: "admin", Password: adminPassword, Role: amove.RoleDesktopAdmin}); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(c, httpapi.Options{Roots: []string{dir}, TempDir: filepath.Join(dir, "staging"), Logger: logger})
	if err := api.Err(); err != nil {
		t.Fatal(err)
	}
	answers = &syncBuffer{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/notification" {
			api.ServeHTTP(w, r) // a hijacked connection: nothing to tee
			return
		}
		api.ServeHTTP(teeWriter{w, answers}, r)
	}))
	t.Cleanup(func() { srv.Close(); api.Close() })
	return srv, answers
}

// TestPageProblemsCaught checks the checks TestWebPage relies on, in the
// real browser: the page's CSP refuses inline script, and a console error,
// an uncaught exception and the CSP refusal are each reported.
func TestPageProblemsCaught(t *testing.T) {
	chrome := testenv.RequireCommand(t, "chromium")
	dir := t.TempDir()
	srv, _ := startAgent(t, dir)
	b := newBrowser(t, chrome, filepath.Join(dir, "downloads"))
	b.run(chromedp.Navigate(srv.URL + "/"))
	b.waitJS(`!document.getElementById('view-signin').hidden`)
	b.eval(`(() => {
		const s = document.createElement('script');
		s.textContent = 'window.injected = true';
		document.body.append(s);
		console.error('planted error');
		setTimeout(() => { throw new Error('planted exception'); });
		return '';
	})()`)
	time.Sleep(500 * time.Millisecond)
	if b.eval(`String(window.injected === true)`) == "true" {
		t.Error("an inline script ran despite the CSP")
	}
	b.mu.Lock()
	all := strings.Join(b.problems, "\n")
	b.mu.Unlock()
	for _, want := range []string{"planted error", "planted exception", "Content Security Policy"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q was not reported; reported:\n%s", want, all)
		}
	}
}

// browserT is one headless Chromium tab and what its page reported.
type browserT struct {
	t         *testing.T
	ctx       context.Context
	downloads string

	mu       sync.Mutex
	problems []string          // console errors, uncaught exceptions
	done     map[string]string // download guid -> state, when finished
}

func newBrowser(t *testing.T, chrome, downloads string) *browserT {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root (CI containers).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	b := &browserT{t: t, ctx: ctx, downloads: downloads, done: map[string]string{}}
	// The first Run starts the browser: without a timeout, which would
	// end it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	// Console errors, uncaught exceptions and error entries of the
	// browser log (a failed request, a CSP violation).
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	err := chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State != browser.DownloadProgressStateInProgress {
			b.mu.Lock()
			b.done[e.GUID] = e.State.String()
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events,
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browserT) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("chromedp: %v", err)
	}
}

// eval runs a JavaScript expression that gives a string.
func (b *browserT) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail("evaluating %s: %v", expr, err)
	}
	return v
}

// fail reports the page's problems too: they usually say why.
func (b *browserT) fail(format string, args ...any) {
	b.t.Helper()
	b.mu.Lock()
	p := strings.Join(b.problems, "\n")
	b.mu.Unlock()
	b.t.Fatalf(format+"\npage problems:\n%s", append(args, p)...)
}

// waitJS polls a JavaScript condition until it holds.
func (b *browserT) waitJS(cond string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		if err != nil {
			b.fail("evaluating %s: %v", cond, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			// What the page shows says why, usually.
			shown, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.view:not([hidden]), #status')].map(n => n.innerText).join('\n')`))
			b.fail("timed out waiting for %s; the page shows:\n%s", cond, shown)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// show opens a view with its tab and, for a list the view reloads, waits
// until the list is the new one: the old rows stay until then, and a click
// on one could land on a row about to be replaced.
func (b *browserT) show(view string) {
	b.t.Helper()
	list := map[string]string{"accounts": "accounts-body", "browser": "objects-body"}[view]
	count := func() string {
		return b.eval(fmt.Sprintf(`document.getElementById(%q).dataset.loaded || '0'`, list))
	}
	var before string
	if list != "" {
		before = count()
	}
	b.run(chromedp.Click(chromedp.CSS("#nav-" + view)))
	if list != "" {
		b.waitJS(fmt.Sprintf(`(document.getElementById(%q).dataset.loaded || '0') !== %q`, list, before))
	}
}

// transferCard waits for the card of the upload to key and returns its id.
func (b *browserT) transferCard(key string) string {
	b.t.Helper()
	find := fmt.Sprintf(`[...document.querySelectorAll('#transfers-list .transfer')].find(n => n.querySelector('.title').textContent.endsWith(%s))`, jsString("/"+key))
	b.waitJS(find + ` !== undefined`)
	return b.eval(find + `.id`)
}

// download clicks a download button and returns the file the browser saved.
func (b *browserT) download(button string) []byte {
	b.t.Helper()
	b.mu.Lock()
	before := map[string]bool{}
	for guid := range b.done {
		before[guid] = true
	}
	b.mu.Unlock()
	b.run(chromedp.Click(chromedp.CSS(button)))
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		guid, st := "", ""
		b.mu.Lock()
		for g, s := range b.done {
			if !before[g] {
				guid, st = g, s
			}
		}
		b.mu.Unlock()
		if guid == "" {
			continue
		}
		if st != browser.DownloadProgressStateCompleted.String() {
			b.fail("download %s ended %s", guid, st)
		}
		// AllowAndName saves the file under its guid.
		data, err := os.ReadFile(filepath.Join(b.downloads, guid))
		if err != nil {
			b.fail("reading the download: %v", err)
		}
		return data
	}
	b.fail("no download finished")
	return nil
}

// shot saves a screenshot of the whole page.
func (b *browserT) shot(dir, name string) {
	b.t.Helper()
	time.Sleep(300 * time.Millisecond) // let transitions settle
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// checkConsole fails the test on anything the page reported.
func (b *browserT) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Error(p)
	}
}

// screenshotDir is .artifacts/screenshots at the module's root (git
// ignores it), or $AMOVE_SCREENSHOTS.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AMOVE_SCREENSHOTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, ".artifacts", "screenshots")
				break
			}
			if filepath.Dir(d) == d {
				t.Fatal("no go.mod above " + wd)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// get fetches an agent route with the page's token.
func get(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
	}
	return string(body)
}

// newBucket makes a bucket of the test's own on MinIO, with the driver:
// the API's create_bucket is for Amove storage only.
func newBucket(t *testing.T, s3env testenv.S3) string {
	t.Helper()
	st, err := s3driver.Open(context.Background(), provider.Config{
		CloudType: provider.S3Generic, AccessKey: s3env.AccessKey, SecretKey: s3env.SecretKey, Endpoint: s3env.Endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	bucket := "web-" + hex.EncodeToString(r)
	if err := st.CreateBucket(context.Background(), bucket, ""); err != nil {
		t.Fatal(err)
	}
	return bucket
}

// throttledProxy relays TCP to target, sending the client's bytes at most
// rate bytes per second (the answers go at full speed). It returns its
// http:// URL.
func throttledProxy(t *testing.T, target string, bps int) string {
	t.Helper()
	// One limiter for every connection: the engine uploads parts in
	// parallel.
	lim := rate.NewLimiter(rate.Limit(bps), 32<<10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				slowCopy(out, in, lim)
				out.(*net.TCPConn).CloseWrite()
			}()
			go func() {
				defer wg.Done()
				io.Copy(in, out)
				in.Close()
				out.Close()
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// slowCopy copies src to dst at the pace lim allows.
func slowCopy(dst io.Writer, src io.Reader, lim *rate.Limiter) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if lim.WaitN(context.Background(), n) != nil {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
