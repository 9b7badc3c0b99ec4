package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/transfer"
)

// The built amove binary, made once per test run by amoveBin in binDir
// (made and removed by TestMain).
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// amoveBin builds cmd/amove once, as docs/cli.md builds it, and returns
// the binary's path: the CLI tests run it as users do, exit codes and
// signals included.
func amoveBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "amove")
		out, err := exec.Command("go", "build", "-tags", "disable_grpc_modules", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// cliEnv is a store, a key and an S3 account "m" on the test MinIO, for
// runs of the binary.
type cliEnv struct {
	t      *testing.T
	bin    string
	env    []string
	bucket string
	files  string // a folder for local files, outside the agent's own
}

func newCLIEnv(t *testing.T) *cliEnv {
	s3 := testenv.RequireS3(t)
	dir := t.TempDir()
	e := &cliEnv{t: t, bin: amoveBin(t), files: t.TempDir(), bucket: fmt.Sprintf("cli-%08x", rand.Uint32())}
	e.env = append(os.Environ(), "AMOVE_CONFIG="+filepath.Join(dir, "none.json"), "AMOVE_DSN=sqlite:"+filepath.Join(dir, "a.db"),
		"AMOVE_KEY_FILE="+filepath.Join(dir, "secret.key"), "AMOVE_SECRET="+s3.SecretKey)
	e.ok("accounts", "add", "--type", "S3Generic", "--name", "m", "--access", s3.AccessKey, "--endpoint", s3.Endpoint)
	e.ok("mb", "m:"+e.bucket)
	t.Cleanup(func() {
		e.run("rm", "-r", "m:"+e.bucket+"/")
		e.run("rb", "m:"+e.bucket)
	})
	return e
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func (e *cliEnv) run(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatalf("amove %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// ok runs the binary and fails the test unless it exits 0.
func (e *cliEnv) ok(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("amove %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (e *cliEnv) file(name string, data []byte) string {
	e.t.Helper()
	p := filepath.Join(e.files, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, s)
	}
	return v
}

// TestCLI runs every command of the built binary against MinIO, one step
// after the other on the same bucket: exit codes, --json shapes, and the
// bytes after cp, cat, mv and sync.
func TestCLI(t *testing.T) {
	e := newCLIEnv(t)
	b := e.bucket
	big := randomBytes(20<<20+12345, 1) // two parts of 16 MiB
	small := []byte("hello, amove\n")
	dir := filepath.Join(e.files, "tree")
	e.file("tree/big.bin", big)
	e.file("tree/h.txt", small)
	e.file("tree/sub/x.tmp", []byte("tmp"))
	back := filepath.Join(e.files, "back")
	e.file("partly/h.txt", []byte("mine"))
	type objects []struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	}
	keys := func(r result) []string {
		var ks []string
		for _, o := range decode[objects](t, r.stdout) {
			ks = append(ks, o.Key)
		}
		return ks
	}
	sameFile := func(path string, want []byte) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want the %d sent", path, len(got), err, len(want))
		}
	}
	// oneLine checks an error for people: one last line on stderr (after
	// the lines of the transfers), "amove: " once.
	oneLine := func(r result, want string) {
		t.Helper()
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		line := lines[len(lines)-1]
		if !strings.HasPrefix(line, "amove: ") || strings.Count(r.stderr, "amove:") != 1 || !strings.Contains(line, want) {
			t.Errorf("error %q; want one line with %q", r.stderr, want)
		}
	}
	s3 := testenv.RequireS3(t)
	e.ok("accounts", "add", "--type", "S3Generic", "--name", "m2", "--access", s3.AccessKey, "--endpoint", s3.Endpoint)
	steps := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, r result)
	}{
		{"ls buckets", []string{"ls", "--json", "m:"}, 0, func(t *testing.T, r result) {
			var bs []struct{ Name string }
			if bs = decode[[]struct{ Name string }](t, r.stdout); !slices.ContainsFunc(bs, func(x struct{ Name string }) bool { return x.Name == b }) {
				t.Errorf("ls m: does not list %s: %s", b, r.stdout)
			}
		}},
		{"cp folder up", []string{"cp", "--json", dir, "m:" + b + "/dir/"}, 0, func(t *testing.T, r result) {
			out := decode[transferJSON](t, r.stdout)
			if len(out.Transfers) != 1 || out.Transfers[0].State != transfer.Completed || out.Transfers[0].FilesDone != 3 || !out.Transfers[0].ChecksumVerified {
				t.Errorf("cp --json: %+v", out)
			}
		}},
		{"ls -R", []string{"ls", "-R", "--json", "m:" + b + "/dir/"}, 0, func(t *testing.T, r result) {
			if got := keys(r); !slices.Equal(got, []string{"dir/big.bin", "dir/h.txt", "dir/sub/x.tmp"}) {
				t.Errorf("ls -R: %v", got)
			}
		}},
		{"ls one level", []string{"ls", "-l", "m:" + b + "/dir/"}, 0, func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "DIR") || !strings.Contains(r.stdout, "dir/h.txt") || strings.Contains(r.stdout, "x.tmp") {
				t.Errorf("ls -l:\n%s", r.stdout)
			}
		}},
		{"ls --include", []string{"ls", "-R", "--json", "--include", "*.txt", "m:" + b + "/dir/"}, 0, func(t *testing.T, r result) {
			if got := keys(r); !slices.Equal(got, []string{"dir/h.txt"}) {
				t.Errorf("ls --include: %v", got)
			}
		}},
		{"cat", []string{"cat", "m:" + b + "/dir/h.txt"}, 0, func(t *testing.T, r result) {
			if r.stdout != string(small) {
				t.Errorf("cat: %q", r.stdout)
			}
		}},
		{"stat", []string{"stat", "--json", "m:" + b + "/dir/big.bin"}, 0, func(t *testing.T, r result) {
			if o := decode[objectJSON](t, r.stdout); o.Size != int64(len(big)) || o.Key != "dir/big.bin" {
				t.Errorf("stat: %+v", o)
			}
		}},
		{"cp down", []string{"cp", "m:" + b + "/dir/", back + "/"}, 0, func(t *testing.T, r result) {
			sameFile(filepath.Join(back, "big.bin"), big)
			sameFile(filepath.Join(back, "h.txt"), small)
		}},
		{"cp down verified", []string{"cp", "--json", "m:" + b + "/dir/big.bin", filepath.Join(back, "v.bin")}, 0, func(t *testing.T, r result) {
			if out := decode[transferJSON](t, r.stdout); len(out.Transfers) != 1 || !out.Transfers[0].ChecksumVerified {
				t.Errorf("cp down: %+v, want checksumVerified", out)
			}
			sameFile(filepath.Join(back, "v.bin"), big)
		}},
		{"cp down --no-verify", []string{"cp", "--json", "--no-verify", "m:" + b + "/dir/big.bin", filepath.Join(back, "nv.bin")}, 0, func(t *testing.T, r result) {
			if out := decode[transferJSON](t, r.stdout); len(out.Transfers) != 1 || out.Transfers[0].ChecksumVerified {
				t.Errorf("cp down --no-verify: %+v, want the download left unverified", out)
			}
			sameFile(filepath.Join(back, "nv.bin"), big)
		}},
		{"cp down onto a file", []string{"cp", "m:" + b + "/dir/h.txt", filepath.Join(back, "h.txt")}, 1, func(t *testing.T, r result) {
			oneLine(r, "--overwrite")
		}},
		{"cp partly done", []string{"cp", "--include", "*", "m:" + b + "/dir/", filepath.Join(e.files, "partly")}, 3, func(t *testing.T, r result) {
			// partly/h.txt was there before (below): refused, the rest copied.
			oneLine(r, "1 of 3 objects failed")
			sameFile(filepath.Join(e.files, "partly", "big.bin"), big)
			sameFile(filepath.Join(e.files, "partly", "h.txt"), []byte("mine"))
		}},
		{"cp remote to remote", []string{"cp", "--json", "m:" + b + "/dir/", "m:" + b + "/copy/"}, 0, func(t *testing.T, r result) {
			if out := decode[transferJSON](t, r.stdout); len(out.Transfers) != 1 || out.Transfers[0].Kind != transfer.Copy {
				t.Errorf("cp remote: %+v", out)
			}
			if c := e.ok("cat", "m:"+b+"/copy/big.bin"); c.stdout != string(big) {
				t.Error("the copy's bytes differ")
			}
		}},
		{"mv remote", []string{"mv", "--json", "m:" + b + "/copy/h.txt", "m:" + b + "/moved/h.txt"}, 0, func(t *testing.T, r result) {
			if out := decode[transferJSON](t, r.stdout); !slices.Equal(out.Removed, []string{"copy/h.txt"}) {
				t.Errorf("mv removed %v", out.Removed)
			}
			if s := e.run("stat", "m:"+b+"/copy/h.txt"); s.code != 1 {
				t.Errorf("the source of mv is still there: exit %d", s.code)
			}
			if c := e.ok("cat", "m:"+b+"/moved/h.txt"); c.stdout != string(small) {
				t.Error("mv: the moved bytes differ")
			}
		}},
		{"mv up", []string{"mv", e.file("up.txt", small), "m:" + b + "/moved/up.txt"}, 0, func(t *testing.T, r result) {
			if _, err := os.Stat(filepath.Join(e.files, "up.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mv left the local source: %v", err)
			}
		}},
		{"sync --delete --dry-run", []string{"sync", "--delete", "--dry-run", "--json", dir, "m:" + b + "/moved/"}, 0, func(t *testing.T, r result) {
			out := decode[syncJSON](t, r.stdout)
			// h.txt holds the same bytes on both sides.
			if !out.DryRun || !slices.Equal(out.Copied, []string{"big.bin", "sub/x.tmp"}) || !slices.Equal(out.Deleted, []string{"up.txt"}) || out.Unchanged != 1 {
				t.Errorf("dry run: %+v", out)
			}
			if got := keys(e.ok("ls", "-R", "--json", "m:"+b+"/moved/")); !slices.Equal(got, []string{"moved/h.txt", "moved/up.txt"}) {
				t.Errorf("sync --dry-run changed the destination: %v", got)
			}
		}},
		{"sync --delete", []string{"sync", "--delete", "--json", "--exclude", "*.tmp", dir, "m:" + b + "/moved/"}, 0, func(t *testing.T, r result) {
			out := decode[syncJSON](t, r.stdout)
			// h.txt has the same bytes already: not copied again.
			if !slices.Equal(out.Copied, []string{"big.bin"}) || !slices.Equal(out.Deleted, []string{"up.txt"}) || out.Unchanged != 1 {
				t.Errorf("sync: %+v", out)
			}
			if c := e.ok("cat", "m:"+b+"/moved/big.bin"); c.stdout != string(big) {
				t.Error("sync: the bytes differ")
			}
		}},
		{"sync again", []string{"sync", "--json", "--exclude", "*.tmp", dir, "m:" + b + "/moved/"}, 0, func(t *testing.T, r result) {
			if out := decode[syncJSON](t, r.stdout); len(out.Copied) != 0 || out.Unchanged != 2 {
				t.Errorf("a second sync: %+v", out)
			}
		}},
		{"sync down", []string{"sync", "m:" + b + "/moved/", filepath.Join(e.files, "synced")}, 0, func(t *testing.T, r result) {
			sameFile(filepath.Join(e.files, "synced", "big.bin"), big)
		}},
		{"presign", []string{"presign", "--json", "m:" + b + "/moved/h.txt"}, 0, func(t *testing.T, r result) {
			u := decode[struct{ URL string }](t, r.stdout).URL
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got, _ := io.ReadAll(resp.Body); string(got) != string(small) {
				t.Errorf("GET of the presigned URL: %d %q", resp.StatusCode, got)
			}
		}},
		{"complete a key", []string{"__complete", "cat", "m:" + b + "/moved/b"}, 0, func(t *testing.T, r result) {
			if !slices.Contains(strings.Split(r.stdout, "\n"), "m:"+b+"/moved/big.bin") {
				t.Errorf("completion under moved/:\n%s", r.stdout)
			}
		}},
		{"rm a folder without -r", []string{"rm", "m:" + b + "/dir/"}, 2, nil},
		{"rm one", []string{"rm", "m:" + b + "/dir/h.txt"}, 0, nil},
		{"rm a missing object", []string{"rm", "m:" + b + "/dir/h.txt"}, 1, func(t *testing.T, r result) {
			oneLine(r, `"dir/h.txt" does not exist in bucket "`+b+`" on account "m"`)
		}},
		{"rm -r", []string{"rm", "-r", "--json", "m:" + b + "/dir/"}, 0, func(t *testing.T, r result) {
			if out := decode[struct{ Removed []string }](t, r.stdout); len(out.Removed) != 2 {
				t.Errorf("rm -r: %+v", out)
			}
			if got := keys(e.ok("ls", "-R", "--json", "m:"+b+"/dir/")); len(got) != 0 {
				t.Errorf("rm -r left %v", got)
			}
		}},
		{"rb a bucket with objects", []string{"rb", "m:" + b}, 1, nil},
		{"rb", []string{"rm", "-r", "m:" + b + "/"}, 0, func(t *testing.T, r result) {
			e.ok("rb", "m:"+b)
			if bs := e.ok("ls", "m:"); slices.Contains(strings.Fields(bs.stdout), b) {
				t.Errorf("rb: %s is still listed", b)
			}
			e.ok("mb", "m:"+b) // for the steps below and the cleanup
		}},
		{"mb an existing bucket", []string{"mb", "m:" + b}, 1, func(t *testing.T, r result) { oneLine(r, "already exists") }},
		{"serve with a bad flag", []string{"serve", "-nosuchflag"}, 2, nil},
		{"accounts list", []string{"accounts", "list", "--json"}, 0, func(t *testing.T, r result) {
			as := decode[[]accountJSON](t, r.stdout)
			if len(as) == 0 || !slices.ContainsFunc(as, func(a accountJSON) bool { return a.Name == "m" }) || strings.Contains(r.stdout, "ecret") {
				t.Errorf("accounts list: %s", r.stdout)
			}
		}},
		{"accounts rm", []string{"accounts", "rm", "--json", "m2"}, 0, func(t *testing.T, r result) {
			if as := decode[[]accountJSON](t, e.ok("accounts", "list", "--json").stdout); slices.ContainsFunc(as, func(a accountJSON) bool { return a.Name == "m2" }) {
				t.Errorf("accounts rm m2: still listed: %+v", as)
			}
		}},
		{"accounts rm a missing account", []string{"accounts", "rm", "m2"}, 1, func(t *testing.T, r result) { oneLine(r, "amove accounts list") }},
		{"accounts test", []string{"accounts", "test", "--json", "m"}, 0, func(t *testing.T, r result) {
			if !decode[struct{ OK bool }](t, r.stdout).OK {
				t.Errorf("accounts test: %s", r.stdout)
			}
		}},
		{"transfers list", []string{"transfers", "list", "--json"}, 0, func(t *testing.T, r result) {
			if sts := decode[[]transfer.Status](t, r.stdout); len(sts) < 5 {
				t.Errorf("transfers list: %d transfers", len(sts))
			}
		}},
		{"transfers wait", []string{"transfers", "wait", "--json", "ID"}, 0, func(t *testing.T, r result) {
			if st := decode[transfer.Status](t, r.stdout); st.State != transfer.Completed {
				t.Errorf("transfers wait: %+v", st)
			}
		}},
		{"transfers pause a completed one", []string{"transfers", "pause", "ID"}, 1, func(t *testing.T, r result) { oneLine(r, "cannot pause transfer") }},
		{"fastr serve without -root", []string{"fastr", "serve"}, 1, func(t *testing.T, r result) { oneLine(r, "-root") }},
		{"agents", []string{"agents", "--json"}, 0, func(t *testing.T, r result) { decode[[]any](t, r.stdout) }},
		{"keys list", []string{"keys", "list", "--json"}, 0, nil},
		{"token create", []string{"token", "create", "--json"}, 0, func(t *testing.T, r result) {
			if decode[struct{ Token string }](t, r.stdout).Token == "" {
				t.Error("no token")
			}
		}},
		{"a missing bucket", []string{"ls", "m:nobucket-" + b}, 1, func(t *testing.T, r result) {
			oneLine(r, `bucket "nobucket-`+b+`" does not exist on account "m"`)
			if strings.Contains(r.stderr, "StatusCode") {
				t.Errorf("provider details without -v: %s", r.stderr)
			}
		}},
		{"a missing bucket -v", []string{"ls", "-v", "m:nobucket-" + b}, 1, func(t *testing.T, r result) {
			if !strings.Contains(r.stderr, "details:") {
				t.Errorf("-v shows no details: %s", r.stderr)
			}
		}},
		{"a missing bucket --json", []string{"ls", "--json", "m:nobucket-" + b}, 1, func(t *testing.T, r result) {
			var out struct {
				Error struct{ Code, Message string }
			}
			if out = decode[struct {
				Error struct{ Code, Message string }
			}](t, r.stdout); out.Error.Code != "NOT_FOUND" {
				t.Errorf("error as JSON: %+v", out)
			}
		}},
		{"a missing local file", []string{"cp", "/nonexistent/file", "m:" + b + "/x"}, 1, func(t *testing.T, r result) {
			oneLine(r, `local file "/nonexistent/file" does not exist`)
		}},
		{"an unknown account", []string{"ls", "nosuch:" + b}, 1, func(t *testing.T, r result) { oneLine(r, "amove accounts list") }},
		{"an unknown command", []string{"frobnicate"}, 2, nil},
		{"an unknown transfer", []string{"transfers", "show", "nope"}, 1, func(t *testing.T, r result) {
			oneLine(r, `transfer "nope" does not exist`)
		}},
		{"an unknown flag", []string{"ls", "--frob", "m:"}, 2, nil},
		{"too many arguments", []string{"cat", "m:a/b", "m:c/d"}, 2, nil},
		{"local to local", []string{"cp", dir, back}, 2, nil},
		{"help", []string{"--help"}, 0, func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "Exit codes") {
				t.Errorf("amove --help:\n%s", r.stdout)
			}
		}},
		{"cp help", []string{"cp", "--help"}, 0, func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "--bwlimit") {
				t.Errorf("amove cp --help:\n%s", r.stdout)
			}
		}},
		{"serve help", []string{"serve", "-h"}, 0, func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stderr, "-agent-id") {
				t.Errorf("amove serve -h:\n%s\n%s", r.stdout, r.stderr)
			}
		}},
		{"completion", []string{"completion", "bash"}, 0, func(t *testing.T, r result) {
			if !strings.Contains(r.stdout, "bash completion") {
				t.Errorf("completion bash: %.200s", r.stdout)
			}
		}},
		{"complete a bucket", []string{"__complete", "cat", "m:" + b[:6]}, 0, func(t *testing.T, r result) {
			if !slices.Contains(strings.Split(r.stdout, "\n"), "m:"+b+"/") {
				t.Errorf("completion of m:%s does not offer the bucket:\n%s", b[:6], r.stdout)
			}
		}},
		{"old single-dash flags", []string{"ls", "-json", "-dsn", strings.TrimPrefix(envOf(e.env, "AMOVE_DSN"), ""), "m:"}, 0, func(t *testing.T, r result) {
			decode[[]any](t, r.stdout)
		}},
	}
	var lastID string // "ID" in a step's arguments: the last transfer listed
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			args := slices.Clone(s.args)
			for i, a := range args {
				if a == "ID" {
					args[i] = lastID
				}
			}
			r := e.run(args...)
			if s.name == "transfers list" {
				sts := decode[[]transfer.Status](t, r.stdout)
				lastID = sts[len(sts)-1].ID
			}
			if r.code != s.code {
				t.Fatalf("amove %s: exit %d, want %d\n%s%s", strings.Join(s.args, " "), r.code, s.code, r.stdout, r.stderr)
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
	}
}

func envOf(env []string, name string) string {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestCLIInterruptResume: Ctrl-C during a large cp pauses the transfer
// into the journal and says how to resume it; `amove transfers resume ID`
// in another run completes it, with the same bytes.
func TestCLIInterruptResume(t *testing.T) {
	e := newCLIEnv(t)
	data := randomBytes(24<<20, 2)
	src := e.file("large.bin", data)
	dst := "m:" + e.bucket + "/large.bin"
	id := e.interruptedCp(src, dst)
	st := decode[transfer.Status](t, e.ok("transfers", "show", "--json", id).stdout)
	if st.State != transfer.Paused {
		t.Fatalf("after Ctrl-C the transfer is %s, want paused", st.State)
	}
	if st.BytesDone >= int64(len(data)) {
		t.Fatalf("the transfer ended before the interrupt: %+v", st)
	}
	if r := e.ok("transfers", "resume", "--json", id); decode[transfer.Status](t, r.stdout).State != transfer.Completed {
		t.Fatalf("transfers resume: %s", r.stdout)
	}
	if r := e.ok("cat", dst); r.stdout != string(data) {
		t.Error("the resumed upload's bytes differ")
	}

	// Another one, cancelled: nothing stored.
	other := "m:" + e.bucket + "/cancelled.bin"
	id = e.interruptedCp(src, other)
	if st := decode[transfer.Status](t, e.ok("transfers", "cancel", "--json", id).stdout); st.State != transfer.Cancelled {
		t.Errorf("transfers cancel: %+v", st)
	}
	if r := e.run("stat", other); r.code != 1 {
		t.Errorf("the cancelled upload's object: stat exit %d, want 1", r.code)
	}
	if r := e.run("transfers", "resume", id); r.code != 1 {
		t.Errorf("transfers resume of a cancelled transfer: exit %d, want 1", r.code)
	}
}

// interruptedCp starts `amove cp` of src to dst slowly, interrupts it
// with SIGINT as Ctrl-C does, and returns the id of the transfer it says
// to resume.
func (e *cliEnv) interruptedCp(src, dst string) string {
	t := e.t
	t.Helper()
	cmd := exec.Command(e.bin, "cp", "--bwlimit", "4M", "--part-size", "5", src, dst)
	cmd.Env = e.env
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // planned and a part or so under way
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("interrupted cp: exit %d, want 1\n%s", code, errOut.String())
	}
	_, id, ok := strings.Cut(errOut.String(), "amove transfers resume ")
	id = strings.TrimSpace(id)
	if !ok || id == "" {
		t.Fatalf("the interrupted cp does not say how to resume:\n%s", errOut.String())
	}
	return id
}

// TestCLIProgressTTY: on a terminal cp draws a bar with the bytes and the
// percentage; without one it prints one line per transfer, no escapes.
func TestCLIProgressTTY(t *testing.T) {
	e := newCLIEnv(t)
	src := e.file("p.bin", randomBytes(6<<20, 3))
	cmd := exec.Command(e.bin, "cp", "--bwlimit", "3M", src, "m:"+e.bucket+"/p.bin")
	cmd.Env = e.env
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = io.Copy(&out, tty) // EIO once the child exits
	tty.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cp on a terminal: %v\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "MiB / 6.0 MiB") || !strings.Contains(s, "%") || !strings.Contains(s, "p.bin") {
		t.Errorf("no progress bar on the terminal:\n%q", s)
	}
	r := e.ok("cp", src, "m:"+e.bucket+"/q.bin")
	if strings.Contains(r.stderr, "\x1b") || !strings.Contains(r.stderr, "upload: completed, 1 files, 6291456 bytes") {
		t.Errorf("without a terminal:\n%q", r.stderr)
	}
}
