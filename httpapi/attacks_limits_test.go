package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

var limitAttacks = []attack{
	{
		name: "form with 10,000 fields refused",
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			ct, body := limitForm(t, acct, func(w *multipart.Writer) {
				for i := range 10000 {
					_ = w.WriteField("f", strings.Repeat("x", i%7))
				}
				writeFormFile(t, w, "hello.txt", []byte("hello"))
			})
			wantError(t, postForm(t, e, ct, body), StatusValidation, "DEFAULT")
			nothingStagedOrSent(t, e)
		},
	},
	{
		name: "form with two file parts refused",
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			ct, body := limitForm(t, acct, func(w *multipart.Writer) {
				writeFormFile(t, w, "one.txt", []byte("one"))
				writeFormFile(t, w, "two.txt", []byte("two"))
			})
			wantError(t, postForm(t, e, ct, body), http.StatusBadRequest, "DEFAULT")
			nothingStagedOrSent(t, e)
		},
	},
	{
		name: "form field of 128 KiB refused",
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			ct, body := limitForm(t, acct, func(w *multipart.Writer) {
				writeFormFile(t, w, "hello.txt", []byte("hello"))
				// Above the 64 KiB a field may have, below the 1 MiB of a
				// JSON body.
				_ = w.WriteField("id", strings.Repeat("x", 128<<10))
			})
			wantError(t, postForm(t, e, ct, body), StatusValidation, "DEFAULT")
			nothingStagedOrSent(t, e)
		},
	},
	{
		name: "staging folder that is a symlink refused at New",
		env: func(t *testing.T) *env {
			dir := t.TempDir()
			target := filepath.Join(dir, "elsewhere")
			if err := os.Mkdir(target, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, "staging")); err != nil {
				t.Fatal(err)
			}
			return newMemoryEnv(t, Options{TempDir: filepath.Join(dir, "staging")})
		},
		run: func(t *testing.T, e *env) {
			stagingRefused(t, e)
			// Nothing went through the link.
			if ents, _ := os.ReadDir(filepath.Join(filepath.Dir(e.api.tempDir), "elsewhere")); len(ents) != 0 {
				t.Fatalf("written through the symlink: %v", ents)
			}
		},
	},
	{
		name: "staging folder of another user refused at New",
		env: func(t *testing.T) *env {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a folder to another user")
			}
			dir := filepath.Join(t.TempDir(), "staging")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return newMemoryEnv(t, Options{TempDir: dir})
		},
		run: func(t *testing.T, e *env) {
			stagingRefused(t, e)
			if fi, err := os.Stat(e.api.tempDir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("the agent changed another user's folder: %v %v", fi.Mode(), err)
			}
		},
	},
	{
		name: "staging folder open to other users refused at New",
		env: func(t *testing.T) *env {
			dir := filepath.Join(t.TempDir(), "staging")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			// Mkdir's mode is cut by the umask; Chmod is not.
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			return newMemoryEnv(t, Options{TempDir: dir})
		},
		run: func(t *testing.T, e *env) {
			stagingRefused(t, e)
			// The agent did not "fix" a folder it did not create.
			if fi, err := os.Stat(e.api.tempDir); err != nil || fi.Mode().Perm() != 0o777 {
				t.Fatalf("mode %v %v, want the folder left as it was", fi.Mode(), err)
			}
		},
	},
	{
		name: "staged form uploads are 0600 files in 0700 folders",
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			res := make(chan *http.Response, 1)
			go func() { res <- sendForm(t, e, mw.FormDataContentType(), pr) }()
			_ = mw.WriteField("cloudAccountJson", `{"id":"`+acct+`"}`)
			_ = mw.WriteField("storageName", "b")
			fw, _ := mw.CreateFormFile("file", "secret.txt")
			fw.Write([]byte("half of a secret, "))
			// While the body is still arriving, the file is staged.
			incoming := filepath.Join(e.api.tempDir, "incoming")
			staged := waitFile(t, incoming)
			for path, want := range map[string]fs.FileMode{e.api.tempDir: 0o700 | fs.ModeDir, incoming: 0o700 | fs.ModeDir, staged: 0o600} {
				fi, err := os.Lstat(path)
				if err != nil || fi.Mode() != want {
					t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
				}
			}
			fw.Write([]byte("and the other half"))
			mw.Close()
			pw.Close()
			r := <-res
			defer r.Body.Close()
			if r.StatusCode != http.StatusOK {
				t.Fatalf("upload: %d", r.StatusCode)
			}
		},
	},
	{
		name: "stalled form body times out",
		opts: Options{StallTimeout: 300 * time.Millisecond},
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			pr, pw := io.Pipe()
			defer pw.Close()
			mw := multipart.NewWriter(pw)
			res := make(chan *http.Response, 1)
			go func() { res <- sendForm(t, e, mw.FormDataContentType(), pr) }()
			_ = mw.WriteField("cloudAccountJson", `{"id":"`+acct+`"}`)
			_ = mw.WriteField("storageName", "b")
			fw, _ := mw.CreateFormFile("file", "slow.txt")
			fw.Write([]byte("the first bytes, and then nothing"))
			// The client sends nothing more and never closes the body:
			// the agent gives up on it by itself.
			r := <-res
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			wantError(t, reply{path: "stalled form", status: r.StatusCode, header: r.Header, body: b}, http.StatusRequestTimeout, "DEFAULT")
			nothingStagedOrSent(t, e)
		},
	},
	{
		name: "login brute force locked out, also for the right password",
		env: func(t *testing.T) *env {
			// A lock long enough that no machine is slow enough to see it
			// end during the row.
			return newLockoutEnv(t, amove.LoginLockout{Base: time.Hour, Max: time.Hour})
		},
		run: func(t *testing.T, e *env) {
			login := func(password string) reply {
				return e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": password})
			}
			for i := range 5 {
				wantError(t, login("guess-"+strconv.Itoa(i)), http.StatusUnauthorized, "AUTH")
			}
			r := login(alicePassword)
			wantError(t, r, http.StatusTooManyRequests, "RATE_LIMIT")
			wantRetryAfter(t, r, time.Hour)
			if bytes.Contains(r.body, []byte("jwtToken")) {
				t.Errorf("a token during the lockout: %s", r.body)
			}
			if _, ok := e.api.signedIn.get(); ok {
				t.Error("the locked-out user became the signed-in user")
			}
			// Another user is not locked by alice's failures.
			wantError(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "bob", "password": "x"}), http.StatusUnauthorized, "AUTH")
		},
	},
	{
		name: "login flood from one address limited",
		opts: Options{LoginRate: Limit{Burst: 3, Every: time.Hour}},
		run: func(t *testing.T, e *env) {
			// Other usernames each time, so no user's lockout is what stops
			// the flood.
			for _, u := range []string{"carol", "dave", "erin"} {
				wantError(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": u, "password": "x"}), http.StatusUnauthorized, "AUTH")
			}
			r := e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": alicePassword})
			wantError(t, r, http.StatusTooManyRequests, "RATE_LIMIT")
			wantRetryAfter(t, r, time.Hour)
			if _, ok := e.api.signedIn.get(); ok {
				t.Error("a sign-in over the limit went through")
			}
		},
	},
	{
		name: "fastr upload sessions per access key capped",
		run: func(t *testing.T, _ *env) {
			fx := fxNewServer(t, "AKLIMITROW", "limit-row-secret-0123456789", func(o *fastr.Options) { o.MaxUploadsPerKey = 5 })
			ctx := context.Background()
			for range 5 {
				if _, err := fx.c.CreateUpload(ctx, "bkt", "k", ""); err != nil {
					t.Fatal(err)
				}
			}
			_, err := fx.c.CreateUpload(ctx, "bkt", "k", "")
			var fe *fastr.Error
			if !errors.As(err, &fe) || fe.StatusCode != http.StatusTooManyRequests || fe.Code != fastr.CodeSlowDown || fe.RetryAfter <= 0 {
				t.Fatalf("a sixth session: %v, want 429 SlowDown with Retry-After", err)
			}
			if n := len(fx.uploads()); n != 5 {
				t.Fatalf("%d sessions on disk, want 5", n)
			}
		},
	},
	{
		name: "fastr body declaring 6 GiB refused before it is read",
		run: func(t *testing.T, _ *env) {
			const key, secret = "AKLIMITROW", "limit-row-secret-0123456789"
			fx := fxNewServer(t, key, secret, nil)
			req, err := http.NewRequest("PUT", fx.srv.URL+"/v1/o/bkt/huge", nil)
			if err != nil {
				t.Fatal(err)
			}
			fastr.SignRequest(req, req.URL.Path, key, secret, fastr.UnsignedPayload, time.Now())
			// Written by hand: the header says 6 GiB, sixteen bytes follow,
			// and the test waits for the answer without sending more.
			conn, err := net.Dial("tcp", fx.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var head strings.Builder
			fmt.Fprintf(&head, "PUT /v1/o/bkt/huge HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.Host, int64(6)<<30)
			_ = req.Header.Write(&head)
			head.WriteString("\r\nsixteen bytes..")
			if _, err := conn.Write([]byte(head.String())); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
			res, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge || res.Header.Get(fastr.HeaderErrorCode) != fastr.CodeEntityTooLarge {
				t.Fatalf("got %d %s, want 413 EntityTooLarge", res.StatusCode, res.Header.Get(fastr.HeaderErrorCode))
			}
			if ents, _ := os.ReadDir(filepath.Join(fx.root, ".fastr-tmp")); len(ents) != 0 {
				t.Errorf("temp files made: %v", ents)
			}
			if _, err := fx.c.Stat(context.Background(), "bkt", "huge"); err == nil {
				t.Error("the object exists")
			}
		},
	},
}

// limitForm builds a form for the memory account's bucket "b" with the
// spec's fields and whatever parts add writes.
func limitForm(t *testing.T, acct string, add func(w *multipart.Writer)) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("cloudAccountJson", `{"id":"`+acct+`"}`)
	_ = w.WriteField("storageName", "b")
	add(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

func writeFormFile(t *testing.T, w *multipart.Writer, name string, data []byte) {
	t.Helper()
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
}

func postForm(t *testing.T, e *env, ct string, body []byte) reply {
	t.Helper()
	return e.request(t, "POST", formRoute+"?token="+e.aliceTok, http.Header{"Content-Type": {ct}}, body)
}

// sendForm posts a body that arrives as the test writes it.
func sendForm(t *testing.T, e *env, ct string, body io.Reader) *http.Response {
	req, err := http.NewRequest("POST", e.srv.URL+formRoute+"?token="+e.aliceTok, body)
	if err != nil {
		t.Error(err)
		return nil
	}
	req.Header.Set("Content-Type", ct)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	return res
}

// waitFile waits for the first file in dir and returns its path.
func waitFile(t *testing.T, dir string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			return filepath.Join(dir, ents[0].Name())
		}
	}
	t.Fatalf("nothing staged in %s", dir)
	return ""
}

// nothingStagedOrSent checks that the staging folder holds no file, the
// bucket no object and the agent no transfer.
func nothingStagedOrSent(t *testing.T, e *env) {
	t.Helper()
	_ = filepath.WalkDir(e.api.tempDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			t.Errorf("staged file left: %s", p)
		}
		return nil
	})
	page, err := e.mem.ListObjects(context.Background(), "b", provider.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 0 {
		t.Errorf("objects uploaded: %v", page.Objects)
	}
	var list []transferStatus
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", e.aliceTok, nil), 200, &list)
	if len(list) != 0 {
		t.Errorf("transfers started: %v", list)
	}
}

// stagingRefused checks an agent whose staging folder New refused: Err
// says so, and a form upload answers 503 SECURITY without staging or
// starting anything.
func stagingRefused(t *testing.T, e *env) {
	t.Helper()
	if err := e.api.Err(); !errors.Is(err, ErrStagingDir) {
		t.Fatalf("New accepted the staging folder: Err() = %v", err)
	}
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	ct, body := limitForm(t, acct, func(w *multipart.Writer) { writeFormFile(t, w, "hello.txt", []byte("hello")) })
	wantError(t, postForm(t, e, ct, body), http.StatusServiceUnavailable, "SECURITY")
	nothingStagedOrSent(t, e)
}

// newLockoutEnv is an agent whose Client has the given login lockout, with
// alice (password alicePassword) and bob; newEnv has no way to shape the
// Client's options.
func newLockoutEnv(t *testing.T, lock amove.LoginLockout) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	mem := memory.New(memory.Options{})
	c, err := amove.New(ctx, amove.Options{
		DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"), Logger: discard,
		OpenStorage:  func(context.Context, provider.Config) (provider.Storage, error) { return sharedMemory{mem}, nil },
		LoginLockout: lock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &env{c: c, mem: mem, root: dir}
	_, e.admin, err = c.CreateTenant(ctx, "acme", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name, password string
		out            *amove.User
	}{{"alice", alicePassword, &e.alice}, {"bob", "", &e.bob}} {
		if *u.out, err = c.CreateUser(ctx, e.admin.Principal(), amove.NewUser{Username: u.name, Password: u.password, Role: amove.RoleStandardUser}); err != nil {
			t.Fatal(err)
		}
	}
	e.api = New(c, Options{Roots: []string{dir}, TempDir: filepath.Join(dir, "tmp"), Logger: discard})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		e.api.Close()
		e.srv.Close()
	})
	return e
}

// wantRetryAfter checks that Retry-After tells the wait of a lock of d
// that started during the row (whole seconds, rounded up).
func wantRetryAfter(t *testing.T, r reply, d time.Duration) {
	t.Helper()
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra > int(d/time.Second) || ra < int(d/time.Second)-600 {
		t.Errorf("Retry-After %q, want about %d", r.header.Get("Retry-After"), int(d/time.Second))
	}
}
