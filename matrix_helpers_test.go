package amove_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/transfer"
)

// Helpers of TestMatrix (matrix_test.go): a bandwidth gate that keeps a
// transfer running long enough to pause it or to close its client, the
// memory driver behind that gate, the local files, and the table.

// gate slows the bytes a client sends (request bodies, and the memory
// driver's writes) to rate bytes a second while rate is set, and counts
// them. It stands for a slow network: the drivers and the engine are the
// real ones.
type gate struct {
	rate atomic.Int64 // bytes per second; 0 lets everything through
	sent atomic.Int64 // bytes sent through the gate
	// large counts the requests (or memory driver writes) of 1 MiB or
	// more: the parts of a multi-part upload.
	large atomic.Int64
}

func (g *gate) count(size int64) {
	if size >= 1<<20 {
		g.large.Add(1)
	}
}

// wait holds a reader for the time n bytes take at the current rate.
func (g *gate) wait(ctx context.Context, n int) {
	r := g.rate.Load()
	if r <= 0 || n <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(float64(n) / float64(r) * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// gatedReader passes reads through g in slices of at most 64 KiB while the
// gate is closed, so a cancelled request stops within a few milliseconds.
type gatedReader struct {
	ctx context.Context
	r   io.Reader
	g   *gate
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.g.rate.Load() > 0 && len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := r.r.Read(p)
	r.g.sent.Add(int64(n))
	r.g.wait(r.ctx, n)
	return n, err
}

type gatedBody struct {
	gatedReader
	c io.Closer
}

func (b *gatedBody) Close() error { return b.c.Close() }

// gatedTransport sends every request body through g.
type gatedTransport struct {
	base http.RoundTripper
	g    *gate
}

func (t gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.base.RoundTrip(r)
	}
	t.g.count(r.ContentLength)
	r2 := r.Clone(r.Context())
	r2.Body = &gatedBody{gatedReader{ctx: r.Context(), r: r.Body, g: t.g}, r.Body}
	return t.base.RoundTrip(r2)
}

// gatedMemory is the memory driver (it has no cloud type, so the client gets
// it through Options.OpenStorage) with its writes sent through a gate. It
// outlives the client's Close of each driver it opens.
type gatedMemory struct {
	*memory.Storage
	g *gate
}

func (gatedMemory) Close() error { return nil }

type gatedSeeker struct {
	gatedReader
	s io.Seeker
}

func (s *gatedSeeker) Seek(off int64, whence int) (int64, error) { return s.s.Seek(off, whence) }

func (m gatedMemory) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	m.g.count(size)
	return m.Storage.UploadPart(ctx, u, n, &gatedSeeker{gatedReader{ctx: ctx, r: r, g: m.g}, r}, size)
}

func (m gatedMemory) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	m.g.count(size)
	return m.Storage.Write(ctx, bucket, key, &gatedReader{ctx: ctx, r: r, g: m.g}, size, opts)
}

// tokenJSON is an OAuth account's credentialsData as package oauth stores
// it: oauth2.Token's JSON.
func tokenJSON(t *testing.T, access, refresh string, expiry time.Time) string {
	t.Helper()
	b, err := json.Marshal(&oauth2.Token{AccessToken: access, TokenType: "Bearer", RefreshToken: refresh, Expiry: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// randomFile writes n bytes of a ChaCha8 stream seeded with seed and returns
// their SHA-256.
func randomFile(t *testing.T, path string, n int, seed [32]byte) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8(seed).Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// treeSHA256 returns the SHA-256 of every regular file under root, by
// slash-separated relative path.
func treeSHA256(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		sum, _, err := fileSHA256(p)
		out[filepath.ToSlash(rel)] = sum
		return err
	})
	return out, err
}

// waitDone waits for a transfer to stop (final or paused) in c and returns
// its status as the Client reports it.
func waitDone(ctx context.Context, c *amove.Client, p amove.Principal, id string) (transfer.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := c.WaitTransfer(ctx, p, id); err != nil {
		return transfer.Status{}, fmt.Errorf("waiting for transfer %s: %w", id, err)
	}
	return c.TransferStatus(ctx, p, id)
}

// waitCompleted is waitDone that wants the state completed.
func waitCompleted(ctx context.Context, c *amove.Client, p amove.Principal, id string) (transfer.Status, error) {
	st, err := waitDone(ctx, c, p, id)
	if err == nil && st.State != transfer.Completed {
		err = fmt.Errorf("transfer %s is %s: %s", st.Kind, st.State, st.Error)
	}
	return st, err
}

// waitBytes polls until the transfer has at least min bytes done (finished
// parts) while it runs.
func waitBytes(ctx context.Context, c *amove.Client, p amove.Principal, id string, min int64) (transfer.Status, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := c.TransferStatus(ctx, p, id)
		if err != nil {
			return st, err
		}
		if st.BytesDone >= min {
			return st, nil
		}
		if st.State != transfer.Running && st.State != transfer.Pending {
			return st, fmt.Errorf("transfer is %s after %d bytes, before %d were done: %s", st.State, st.BytesDone, min, st.Error)
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("transfer did only %d bytes in 2 minutes", st.BytesDone)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The table.

type cellResult struct {
	run      bool // false: not run (cannot, skipped, or an earlier cell failed)
	failed   string
	verified bool
	dur      time.Duration
	note     string // the expected limitations seen, or why the cell did not run
}

type matrixTable struct {
	mu    sync.Mutex
	cells map[string]map[string]cellResult
	total map[string]time.Duration
}

func (m *matrixTable) set(prov, cell string, r cellResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cells == nil {
		m.cells = map[string]map[string]cellResult{}
	}
	if m.cells[prov] == nil {
		m.cells[prov] = map[string]cellResult{}
	}
	m.cells[prov][cell] = r
}

func (m *matrixTable) setTotal(prov string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.total == nil {
		m.total = map[string]time.Duration{}
	}
	m.total[prov] = d
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// markdown renders providers × cells; limitations and failures go to
// numbered notes under the table, one per distinct text.
func (m *matrixTable) markdown(provs, cells []string, elapsed time.Duration) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	var notes []string
	note := func(s string) string {
		i := slices.Index(notes, s)
		if i < 0 {
			notes = append(notes, s)
			i = len(notes) - 1
		}
		return fmt.Sprintf(" [%d]", i+1)
	}
	fmt.Fprintf(&b, "| provider | %s | total |\n|---|%s---|\n", strings.Join(cells, " | "), strings.Repeat("---|", len(cells)))
	for _, p := range provs {
		row := m.cells[p]
		if row == nil {
			continue // not selected by -run
		}
		fmt.Fprintf(&b, "| %s |", p)
		if r, ok := row[cells[0]]; ok && !r.run && r.note != "" && !slices.ContainsFunc(cells, func(c string) bool {
			return row[c].run || row[c].note != r.note
		}) {
			// The whole row did not run, for one reason.
			fmt.Fprintf(&b, " not run%s |%s %s |\n", note(r.note), strings.Repeat(" |", len(cells)-1), secs(m.total[p]))
			continue
		}
		for _, c := range cells {
			r, ok := row[c]
			switch {
			case !ok:
				b.WriteString(" not run |")
			case !r.run:
				fmt.Fprintf(&b, " not run%s |", note(r.note))
			case r.failed != "":
				fmt.Fprintf(&b, " **FAIL**%s %s |", note(r.failed), secs(r.dur))
			default:
				v := "verified"
				if !r.verified {
					v = "verified=false"
				}
				n := ""
				if r.note != "" {
					n = note(r.note)
				}
				fmt.Fprintf(&b, " ok, %s%s %s |", v, n, secs(r.dur))
			}
		}
		fmt.Fprintf(&b, " %s |\n", secs(m.total[p]))
	}
	fmt.Fprintf(&b, "\nWall time %s. ", secs(elapsed))
	b.WriteString("\"verified\" is the transfer's checksumVerified; every cell also compared the bytes by SHA-256.\n")
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "%d. %s\n", i+1, n)
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
