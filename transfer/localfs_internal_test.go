package transfer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestOpenSourceProtected checks an upload run's opens of its files
// against the agent's files, after the plan: the one-name shortcut
// (sourceGuard.onlyName) must refuse what the identity check refuses.
func TestOpenSourceProtected(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, "cfg") // a protected folder
	work := filepath.Join(home, "work")
	for _, d := range []string{cfg, work, filepath.Join(work, "d")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(cfg, "secret.key")
	write(key, []byte("the key"))
	db := filepath.Join(cfg, "db") // one name only
	write(db, []byte("the database"))
	late := filepath.Join(home, "db-wal") // protected files that appear later
	lateLinked := filepath.Join(home, "db-shm")
	plain := filepath.Join(work, "d", "plain.txt")
	plainBytes := []byte("an ordinary file")
	write(plain, plainBytes)

	e := New(Options{Protected: []string{cfg, late, lateLinked}})
	defer e.Close()
	j := newJob(e, &JobRecord{Kind: Upload})

	// An ordinary file opens, with its bytes, and (on Linux with /proc)
	// by the shortcut, so the cases below test it.
	f, err := j.openSource(plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, plainBytes) {
		t.Fatalf("read %q, %v; want %q", got, err, plainBytes)
	}
	fast := false
	if f, err := os.Open(plain); err == nil {
		fi, _ := f.Stat()
		_, fast = j.sourceGuard().onlyName(f, fi)
		f.Close()
	}
	if runtime.GOOS == "linux" && !fast {
		t.Log("the one-name shortcut is not used here (bind-mounted file system?): only the identity check is tested")
	}

	// After the run's guard was made: a hard link to the key, the work
	// folder swapped for a symlink into the protected folder, a protected
	// file that appears (a WAL) reached through a hard link and through a
	// swapped folder.
	hard := filepath.Join(work, "hard.txt")
	if err := os.Link(key, hard); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(work, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cfg, filepath.Join(work, "d")); err != nil {
		t.Fatal(err)
	}
	write(late, []byte("the WAL"))
	write(lateLinked, []byte("the shared memory"))
	if err := os.Link(lateLinked, filepath.Join(work, "shm-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(home, filepath.Join(work, "h")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		hard,
		filepath.Join(work, "d", "secret.key"),
		filepath.Join(work, "d", "db"),
		filepath.Join(work, "shm-link"),
		filepath.Join(work, "h", "db-wal"),
	} {
		if f, err := j.openSource(p); !errors.Is(err, ErrProtected) {
			if f != nil {
				f.Close()
			}
			t.Errorf("openSource(%s) = %v; want ErrProtected", p, err)
		}
	}
	// The files of one name reached through a swapped folder were refused
	// by the shortcut, by that name, not by the identity check.
	for _, p := range []string{db, late} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		if name, ok := j.sourceGuard().onlyName(f, fi); fast && (!ok || name != p) {
			t.Errorf("onlyName(%s) = %q, %v; want its name", p, name, ok)
		}
		f.Close()
	}
	// A symlink as the last element is never followed.
	if err := os.Symlink(plainBytesFile(t, work), filepath.Join(work, "last-link")); err != nil {
		t.Fatal(err)
	}
	if f, err := j.openSource(filepath.Join(work, "last-link")); err == nil {
		f.Close()
		t.Error("openSource followed a symlink in the last element")
	}
}

func plainBytesFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "target.txt")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
