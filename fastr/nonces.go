package fastr

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The nonce cache is kept in the server's own directory so a restart does
// not reopen the replay window: every verified nonce is appended to a log
// and synced to disk before the request runs, and a new server reads the
// logs back at start. A request the previous process accepted is therefore
// refused by the next one as ReplayedRequest, for as long as its date
// lets it through at all (docs/fastr.md §1).
//
// The logs are generations: .fastr-nonces/<w>-<n> holds the nonces
// recorded while floor(unix seconds / w) was n, where w, the window, is
// twice the clock skew. A nonce expires at its request date plus the skew,
// which is at most w after it was recorded, so the log holds nothing alive
// from (n+2)*w on, and is deleted then (also by a server started with
// another skew, since w is in the name).
const noncesDir = ".fastr-nonces"

// DefaultMaxNonces bounds the nonces remembered at once when
// Options.MaxNonces is zero: 2^19 entries (about 30 MiB), 870 signed
// requests a second for the default 10-minute window.
const DefaultMaxNonces = 1 << 19

// errReplayed is a nonce already spent.
var errReplayed = errors.New("nonce already used")

type nonceKey [sha256.Size]byte

// nonceCache remembers the nonces of verified requests until their date
// leaves the acceptance window. The key is a hash of access key and nonce,
// so entries have a fixed size and the log holds no access key.
type nonceCache struct {
	root   *os.Root
	window int64 // generation length in seconds: twice the clock skew
	max    int

	mu    sync.Mutex
	m     map[nonceKey]int64  // expiry, Unix seconds
	files map[string]*os.File // the logs on disk by name, open or nil
	swept int64               // when m was last swept, Unix seconds
}

func newNonceCache(root *os.Root, skew time.Duration, maxEntries int, now time.Time) (*nonceCache, error) {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxNonces
	}
	c := &nonceCache{
		root:   root,
		window: max(int64(2*skew/time.Second), 1),
		max:    maxEntries,
		m:      map[nonceKey]int64{},
		files:  map[string]*os.File{},
	}
	if err := root.MkdirAll(noncesDir, 0o700); err != nil {
		return nil, fmt.Errorf("fastr: creating %s: %w", noncesDir, err)
	}
	if err := c.load(now.Unix()); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the logs that may still hold live nonces and deletes the
// others. A line cut short by a crash is skipped: its request never ran,
// since a request runs only after its line is synced.
func (c *nonceCache) load(now int64) error {
	entries, err := fs.ReadDir(c.root.FS(), noncesDir)
	if err != nil {
		return fmt.Errorf("fastr: reading %s: %w", noncesDir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if logExpired(name, now) {
			_ = c.root.Remove(noncesDir + "/" + name)
			continue
		}
		b, err := c.root.ReadFile(noncesDir + "/" + name)
		if err != nil {
			return fmt.Errorf("fastr: reading nonce log %s: %w", name, err)
		}
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			exp, key, ok := parseNonceLine(line)
			if ok && exp >= now {
				c.m[key] = exp
			}
		}
		c.files[name] = nil
	}
	return nil
}

func logName(window, now int64) string {
	return strconv.FormatInt(window, 10) + "-" + strconv.FormatInt(now/window, 10)
}

// logExpired reports whether the log name ("<w>-<n>") can hold no nonce
// alive at now; a name that is not a log's is garbage.
func logExpired(name string, now int64) bool {
	ws, ns, ok := strings.Cut(name, "-")
	w, err1 := strconv.ParseInt(ws, 10, 64)
	n, err2 := strconv.ParseInt(ns, 10, 64)
	if !ok || err1 != nil || err2 != nil || w <= 0 {
		return true
	}
	return (n+2)*w <= now
}

func parseNonceLine(line []byte) (int64, nonceKey, bool) {
	var key nonceKey
	e, h, ok := bytes.Cut(line, []byte(" "))
	if !ok || hex.DecodedLen(len(h)) != len(key) {
		return 0, key, false
	}
	exp, err := strconv.ParseInt(string(e), 10, 64)
	if err != nil {
		return 0, key, false
	}
	if _, err := hex.Decode(key[:], h); err != nil {
		return 0, key, false
	}
	return exp, key, true
}

// spend records the nonce of a verified request dated date, valid until
// expires. It returns errReplayed when the nonce was spent before, and a
// 503 *Error when the cache is full or the log cannot be written: the
// request must not run unless its nonce is on disk.
func (c *nonceCache) spend(accessKey, nonce string, expires, now time.Time) error {
	key := nonceKey(sha256.Sum256([]byte(accessKey + "\x00" + nonce)))
	exp, t := expires.Unix(), now.Unix()
	c.mu.Lock()
	if e, seen := c.m[key]; seen && e >= t {
		c.mu.Unlock()
		return errReplayed
	}
	if len(c.m) >= c.max && t > c.swept {
		c.sweep(t)
	}
	if len(c.m) >= c.max {
		c.mu.Unlock()
		return &Error{StatusCode: http.StatusServiceUnavailable, Code: CodeSlowDown,
			Message: "too many signed requests in the replay window", RetryAfter: time.Second}
	}
	f, err := c.generation(t)
	if err == nil {
		_, err = fmt.Fprintf(f, "%d %x\n", exp, key[:])
	}
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("fastr: recording nonce: %w", err)
	}
	c.m[key] = exp
	if t-c.swept > c.window/4 {
		c.sweep(t)
	}
	c.mu.Unlock()
	// Synced outside the lock, so concurrent requests share one flush. A
	// request whose line is not on disk does not run.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fastr: syncing nonce log: %w", err)
	}
	return nil
}

// generation returns the log of now's generation, opening it, and closes
// and deletes the logs that can hold no live nonce. c.mu is held.
func (c *nonceCache) generation(now int64) (*os.File, error) {
	name := logName(c.window, now)
	if f := c.files[name]; f != nil {
		return f, nil
	}
	for old, f := range c.files {
		if logExpired(old, now) {
			if f != nil {
				f.Close()
			}
			_ = c.root.Remove(noncesDir + "/" + old)
			delete(c.files, old)
		}
	}
	f, err := c.root.OpenFile(noncesDir+"/"+name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	c.files[name] = f
	return f, nil
}

// sweep drops expired nonces. c.mu is held.
func (c *nonceCache) sweep(now int64) {
	for k, exp := range c.m {
		if exp < now {
			delete(c.m, k)
		}
	}
	c.swept = now
}

func (c *nonceCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, f := range c.files {
		if f != nil {
			f.Close()
		}
		delete(c.files, name)
	}
}
