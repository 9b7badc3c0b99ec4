package amove_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	boxfake "github.com/amove/amove-go/internal/fakes/box"
	dropboxfake "github.com/amove/amove-go/internal/fakes/dropbox"
	frameiofake "github.com/amove/amove-go/internal/fakes/frameio"
	gdrivefake "github.com/amove/amove-go/internal/fakes/gdrive"
	onedrivefake "github.com/amove/amove-go/internal/fakes/onedrive"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/all"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/transfer"
)

// TestMatrix walks every driver through the product path (amove.Client:
// the calls the agent and the CLI make, real drivers from the registry,
// accounts inserted with InsertAccount, OAuth tokens as package oauth keeps
// them) along each user path of matrixCells: a 40 MiB upload in 8 MiB parts,
// its download, 200 small files up and down, a copy to a second provider
// (memory; memory itself copies to a Fastr server), a pause and resume, and
// a resume by a new client after the first was closed mid-upload. Each cell
// compares the bytes by SHA-256 and checksumVerified with matrixUnverified;
// the pause and reopen cells also check that the upload continued rather
// than started over (matrixStartsOver). A cell that does less than the
// tables say fails. Every provider row has its own store, servers and
// clients; rows run in parallel.
//
// The matrix (providers × cells, with times) is logged, and written to
// $AMOVE_MATRIX_OUT when set:
//
//	source .cache/testservers.env && go test -race -run TestMatrix -v .
func TestMatrix(t *testing.T) {
	began := time.Now()
	files := newMatrixFiles(t)
	var tab matrixTable
	// The slowest row starts first, so the others run beside it.
	launch := slices.Clone(matrixProviders)
	slices.SortStableFunc(launch, func(a, b matrixProvider) int {
		if a.slow == b.slow {
			return 0
		}
		if a.slow {
			return -1
		}
		return 1
	})
	t.Run("providers", func(t *testing.T) {
		for _, mp := range launch {
			t.Run(mp.name, func(t *testing.T) {
				t.Parallel()
				runMatrixProvider(t, mp, files, &tab)
			})
		}
	})
	names := make([]string, len(matrixProviders))
	for i, mp := range matrixProviders {
		names[i] = mp.name
	}
	md := tab.markdown(names, matrixCells, time.Since(began))
	t.Log("provider × path matrix:\n" + md)
	if out := os.Getenv("AMOVE_MATRIX_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// The cells, in the order they run.
const (
	cellUpload     = "upload 40 MiB"
	cellDownload   = "download 40 MiB"
	cellFolderUp   = "200 files up"
	cellFolderDown = "200 files down"
	cellCopy       = "copy to peer"
	cellPause      = "pause + resume"
	cellReopen     = "close + reopen"
)

var matrixCells = []string{cellUpload, cellDownload, cellFolderUp, cellFolderDown, cellCopy, cellPause, cellReopen}

// matrixUnverified lists, per provider and cell, why checksumVerified is
// false there. Every other cell must report true; a cell listed here must
// report false (delete its line when it turns true).
var matrixUnverified = map[string]map[string]string{
	"atomosphere (MinIO)": {
		cellCopy: atomosphereNoCRC,
	},
	"frameio (fake)": {
		cellUpload:     frameioNoHash,
		cellDownload:   frameioNoHash,
		cellFolderUp:   frameioNoHash,
		cellFolderDown: frameioNoHash,
		cellCopy:       frameioNoHash + "; the source read cannot be checked either",
	},
}

const atomosphereNoCRC = "an Atomosphere account gets no full-object CRC32C (nothing says its server takes one), " +
	"so the 40 MiB multipart object has only an MD5-of-MD5s ETag, which a copy does not re-derive " +
	"(a download does, fetching the object along its own parts)"

const frameioNoHash = "Frame.io V4 files carry no content hash, so the driver checks sizes only"

// matrixStartsOver lists the providers whose uploads start over, instead of
// continuing from their finished parts, after a pause or a new client, with
// why. The pause and reopen cells fail when an upload starts over without a
// reason here, or continues with one.
var matrixStartsOver = map[string]string{
	"dropbox (fake)": "the driver keeps its upload sessions in the driver value (Storage.uploads) and the client " +
		"opens a new driver for each run of a job, so ListParts answers ErrNotFound (\"not known to this " +
		"process\") and the engine opens a new session, though upload_session/append_v2 could continue " +
		"the session from its id and offset",
}

// matrixCannot lists the cells a provider cannot do at all, with why. They
// are not run and the table says why.
var matrixCannot = map[string]map[string]string{
	"frameio (fake)": {
		cellPause:  frameioNoParts,
		cellReopen: frameioNoParts,
	},
}

const frameioNoParts = "the driver has no MultipartUploader (Frame.io chooses the part sizes when the file is " +
	"created and has no resumable session), so an upload is one streamed Write that reports its bytes at the end"

const (
	matrixPartSize = 8 << 20
	matrixBigSize  = 40 << 20
	matrixSmall    = 200
	// matrixSlow is the gate's rate while a cell needs its transfer to be
	// still running: one 8 MiB part takes a quarter of a second.
	matrixSlow = 32 << 20
	// memoryEndpoint marks the accounts the test's OpenStorage serves from
	// the memory driver (it has no cloud type); all others go to the
	// registry.
	memoryEndpoint = "memory://matrix"
	fastrKey       = "AKMATRIX"
	fastrSecret    = "matrix-fastr-secret-0123456789"
)

// matrixFiles are the local sources, shared by every provider: three
// different 40 MiB files (a mix-up between them would not go unseen) and a
// tree of 200 small files.
type matrixFiles struct {
	big, pause, reopen          string
	bigSum, pauseSum, reopenSum string
	folder                      string
	folderSums                  map[string]string
}

func newMatrixFiles(t *testing.T) *matrixFiles {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	t.Logf("data seed %x", seed)
	dir := t.TempDir()
	f := &matrixFiles{big: filepath.Join(dir, "big.bin"), pause: filepath.Join(dir, "pause.bin"),
		reopen: filepath.Join(dir, "reopen.bin"), folder: filepath.Join(dir, "folder")}
	f.bigSum = randomFile(t, f.big, matrixBigSize, seed)
	seed[0]++
	f.pauseSum = randomFile(t, f.pause, matrixBigSize, seed)
	seed[0]++
	f.reopenSum = randomFile(t, f.reopen, matrixBigSize, seed)
	for i := range matrixSmall {
		seed[1]++
		// 1 to 4 KiB, in ten folders.
		randomFile(t, filepath.Join(f.folder, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%03d.bin", i)), 1<<10+int(seed[1])*12, seed)
	}
	sums, err := treeSHA256(f.folder)
	if err != nil || len(sums) != matrixSmall {
		t.Fatalf("small files: %d, %v", len(sums), err)
	}
	f.folderSums = sums
	return f
}

// matrixHarness is one provider's row: its own store, gate and memory
// driver, and the clients the cells open on that store.
type matrixHarness struct {
	t     *testing.T
	dsn   string
	key   []byte
	gate  *gate
	hc    *http.Client
	mem   *memory.Storage
	oauth amove.OAuthOptions
}

func (h *matrixHarness) open(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
	if cfg.Endpoint == memoryEndpoint {
		return gatedMemory{h.mem, h.gate}, nil
	}
	return provider.Open(ctx, cfg)
}

// client opens a Client on the row's store, like a new agent process.
// concurrency 0 is the engine's default.
func (h *matrixHarness) client(concurrency int) (*amove.Client, error) {
	return amove.New(context.Background(), amove.Options{
		DSN: h.dsn, SecretKey: h.key, Logger: slog.New(slog.DiscardHandler),
		OpenStorage: h.open, HTTPClient: h.hc, OAuth: h.oauth,
		Transfers: amove.TransferOptions{PartSize: matrixPartSize, Concurrency: concurrency},
	})
}

func accountConfig(a amove.NewAccount) provider.Config {
	return provider.Config{CloudType: a.CloudType, AccessKey: a.AccessKey, SecretKey: a.SecretKey, Region: a.Region,
		Endpoint: a.Endpoint, ServiceURL: a.ServiceURL, CredentialsData: a.CredentialsData}
}

// createBucket makes a bucket through the driver (the Client has no call
// for it) and, with remove set, deletes it and its objects when t ends.
func createBucket(t *testing.T, a amove.NewAccount, bucket string, remove bool) {
	t.Helper()
	ctx := context.Background()
	st, err := provider.Open(ctx, accountConfig(a))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.(provider.BucketManager).CreateBucket(ctx, bucket, ""); err != nil {
		t.Fatal(err)
	}
	if remove {
		t.Cleanup(func() { removeBucket(t, a, bucket) })
	}
}

func removeBucket(t *testing.T, a amove.NewAccount, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := provider.Open(ctx, accountConfig(a))
	if err != nil {
		t.Logf("cleanup of %s: %v", bucket, err)
		return
	}
	defer st.Close()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for o, err := range provider.Walk(ctx, st, bucket, provider.ListOptions{}) {
		if err != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = st.Delete(ctx, bucket, o.Key)
		}()
	}
	wg.Wait()
	if err := st.(provider.BucketManager).DeleteBucket(ctx, bucket); err != nil {
		t.Logf("cleanup of %s: %v", bucket, err)
	}
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func memoryAccount(h *matrixHarness, bucket string) (amove.NewAccount, string) {
	if err := h.mem.CreateBucket(context.Background(), bucket, ""); err != nil {
		h.t.Fatal(err)
	}
	return amove.NewAccount{CloudType: provider.S3Generic, Name: "memory " + bucket, Endpoint: memoryEndpoint,
		Region: "us-east-1", AccessKey: "matrix", SecretKey: "matrix-secret"}, bucket
}

func fastrAccount(t *testing.T, ct provider.CloudType) (amove.NewAccount, string) {
	s, err := fastr.NewServer(fastr.Options{Root: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Credentials: fastr.StaticCredentials(map[string]string{fastrKey: fastrSecret})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	a := amove.NewAccount{CloudType: ct, Name: ct.String(), ServiceURL: srv.URL, AccessKey: fastrKey, SecretKey: fastrSecret}
	createBucket(t, a, "matrix", false)
	return a, "matrix"
}

// oauthApp registers the OAuth application of a SaaS fake, so a refresh
// (not needed in an hour) would go to the fake.
func (h *matrixHarness) oauthApp(ct provider.CloudType, p oauth.Provider, tokenURL string) {
	p.Config.Endpoint.TokenURL = tokenURL
	if h.oauth.Providers == nil {
		h.oauth.Providers = map[provider.CloudType]oauth.Provider{}
	}
	h.oauth.Providers[ct] = p
}

// matrixProvider is a row: start starts (or finds) the provider's server
// for t and returns the account to insert and the bucket the cells use;
// peer is the second provider of the copy cell (default: memory).
type matrixProvider struct {
	name  string
	slow  bool // started first
	start func(t *testing.T, h *matrixHarness) (amove.NewAccount, string)
	peer  func(t *testing.T, h *matrixHarness) (amove.NewAccount, string)
}

var matrixProviders = []matrixProvider{
	{name: "memory",
		start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) { return memoryAccount(h, "matrix") },
		// The way back: memory is the source here, a Fastr server the
		// destination.
		peer: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
			return fastrAccount(t, provider.LocalHttp)
		}},
	{name: "s3 (MinIO)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		env := testenv.RequireS3(t)
		a := amove.NewAccount{CloudType: provider.S3Generic, Name: "minio", Endpoint: env.Endpoint, Region: "us-east-1",
			AccessKey: env.AccessKey, SecretKey: env.SecretKey}
		b := randomName("amove-matrix-")
		createBucket(t, a, b, true)
		return a, b
	}},
	// Atomosphere as docs/providers.md decides: an S3-compatible endpoint.
	{name: "atomosphere (MinIO)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		env := testenv.RequireS3(t)
		a := amove.NewAccount{CloudType: provider.Atomosphere, Name: "atomosphere", ServiceURL: env.Endpoint,
			AccessKey: env.AccessKey, SecretKey: env.SecretKey}
		b := randomName("amove-matrix-")
		createBucket(t, a, b, true)
		return a, b
	}},
	{name: "azure (Azurite)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		env := testenv.RequireAzure(t)
		a := amove.NewAccount{CloudType: provider.Azure, Name: "azurite", Endpoint: env.Endpoint,
			AccessKey: env.Account, SecretKey: env.Key}
		b := randomName("amove-matrix-")
		createBucket(t, a, b, true)
		return a, b
	}},
	{name: "gcs (fake-gcs-server)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		a := amove.NewAccount{CloudType: provider.Google, Name: "fake-gcs", Endpoint: testenv.RequireGCS(t)}
		b := randomName("amove-matrix-")
		createBucket(t, a, b, true)
		return a, b
	}},
	{name: "dropbox (fake)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		srv := dropboxfake.New(dropboxfake.Options{})
		t.Cleanup(srv.Close)
		h.oauthApp(provider.Dropbox, oauth.Dropbox("app", "secret"), srv.URL+"/oauth2/token")
		at, rt, exp := srv.IssueToken()
		return amove.NewAccount{CloudType: provider.Dropbox, Name: "dropbox", Endpoint: srv.URL,
			CredentialsData: tokenJSON(t, at, rt, exp)}, "Dropbox"
	}},
	{name: "box (fake)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		srv := boxfake.New(boxfake.Options{})
		t.Cleanup(srv.Close)
		h.oauthApp(provider.Box, oauth.Box("app", "secret"), srv.URL+"/oauth2/token")
		at, rt, exp := srv.Auth.Issue()
		return amove.NewAccount{CloudType: provider.Box, Name: "box", Endpoint: srv.URL,
			CredentialsData: tokenJSON(t, at, rt, exp)}, "All Files"
	}},
	// 8 MiB parts, so the 40 MiB upload goes up in five.
	{name: "frameio (fake)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		srv := frameiofake.New(frameiofake.Options{PartSize: matrixPartSize})
		t.Cleanup(srv.Close)
		h.oauthApp(provider.Frame, oauth.FrameIO("app", "secret"), srv.URL+"/ims/token/v3")
		at, rt, exp := srv.Auth.Issue()
		return amove.NewAccount{CloudType: provider.Frame, Name: "frameio", Endpoint: srv.URL,
			CredentialsData: tokenJSON(t, at, rt, exp)}, "Fake Workspace:Fake Project"
	}},
	// The OneDrive fake computes the QuickXorHash of a file's content on
	// every metadata answer: the slowest row under -race.
	{name: "onedrive (fake)", slow: true, start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		srv := onedrivefake.New(onedrivefake.Options{})
		t.Cleanup(srv.Close)
		h.oauthApp(provider.OneDrive, oauth.OneDrive("app", "secret", ""), srv.URL+"/token")
		at, rt, exp := srv.Auth.Issue()
		return amove.NewAccount{CloudType: provider.OneDrive, Name: "onedrive", Endpoint: srv.URL,
			CredentialsData: tokenJSON(t, at, rt, exp)}, "OneDrive"
	}},
	{name: "gdrive (fake)", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		srv := gdrivefake.New(gdrivefake.Options{})
		t.Cleanup(srv.Close)
		h.oauthApp(provider.GoogleDrive, oauth.GoogleDrive("app", "secret"), srv.URL+"/token")
		at, rt, exp := srv.Auth.Issue()
		return amove.NewAccount{CloudType: provider.GoogleDrive, Name: "gdrive", Endpoint: srv.URL,
			CredentialsData: tokenJSON(t, at, rt, exp)}, "My Drive"
	}},
	{name: "fastr LocalHttp", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		return fastrAccount(t, provider.LocalHttp)
	}},
	{name: "fastr FastrServer", start: func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) {
		return fastrAccount(t, provider.FastrServer)
	}},
}

// cellFunc runs one cell and returns the checksumVerified it saw.
type cellFunc func(t *testing.T) (verified bool, err error)

func runMatrixProvider(t *testing.T, mp matrixProvider, files *matrixFiles, tab *matrixTable) {
	began := time.Now()
	ctx := context.Background()
	h := &matrixHarness{t: t, dsn: "sqlite:" + filepath.Join(t.TempDir(), "amove.db"), key: make([]byte, 32),
		gate: &gate{}, mem: memory.New(memory.Options{})}
	_, _ = rand.Read(h.key)
	h.hc = provider.NewHTTPClient()
	h.hc.Transport = gatedTransport{base: h.hc.Transport, g: h.gate}
	recorded := map[string]bool{}
	defer func() {
		tab.setTotal(mp.name, time.Since(began))
		// A row whose setup stopped (no server, or a failure) says so in
		// every cell.
		why := "setup failed"
		if t.Skipped() {
			why = "skipped: test server not configured (source .cache/testservers.env)"
		}
		for _, c := range matrixCells {
			if !recorded[c] {
				tab.set(mp.name, c, cellResult{note: why})
			}
		}
	}()

	acctIn, bucket := mp.start(t, h)
	peerFn := mp.peer
	if peerFn == nil {
		peerFn = func(t *testing.T, h *matrixHarness) (amove.NewAccount, string) { return memoryAccount(h, "peer") }
	}
	peerIn, peerBucket := peerFn(t, h)

	c, err := h.client(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, admin, err := c.CreateTenant(ctx, "matrix", amove.NewUser{Username: "matrix-admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p := admin.Principal()
	acct, err := c.InsertAccount(ctx, p, acctIn)
	if err != nil {
		t.Fatalf("insert %s account: %v", mp.name, err)
	}
	peer, err := c.InsertAccount(ctx, p, peerIn)
	if err != nil {
		t.Fatalf("insert peer account: %v", err)
	}

	// download fetches an object through the Client and returns its
	// SHA-256 and the download's status.
	download := func(accountID, bucket, key string) (string, transfer.Status, error) {
		dir, err := os.MkdirTemp("", "amove-matrix-")
		if err != nil {
			return "", transfer.Status{}, err
		}
		defer os.RemoveAll(dir)
		dst := filepath.Join(dir, "object")
		id, err := c.Download(ctx, p, amove.DownloadRequest{AccountID: accountID, Bucket: bucket, Key: key, LocalPath: dst})
		if err != nil {
			return "", transfer.Status{}, fmt.Errorf("download %s: %w", key, err)
		}
		st, err := waitCompleted(ctx, c, p, id)
		if err != nil {
			return "", st, err
		}
		sum, _, err := fileSHA256(dst)
		return sum, st, err
	}
	// drop deletes an object the cells are done with, so the fakes (which
	// keep objects in memory) stay small.
	drop := func(t *testing.T, accountID, bucket, key string) {
		if err := c.Delete(ctx, p, accountID, bucket, key); err != nil {
			t.Errorf("delete %s: %v", key, err)
		}
	}
	same := func(what, got, want string) error {
		if got != want {
			return fmt.Errorf("%s: SHA-256 %.12s, want %.12s", what, got, want)
		}
		return nil
	}

	passed := map[string]bool{}
	notes := map[string][]string{} // by cell: expected limitations seen
	cell := func(name, needs string, fn cellFunc) {
		recorded[name] = true
		if why := matrixCannot[mp.name][name]; why != "" {
			tab.set(mp.name, name, cellResult{note: "cannot: " + why})
			return
		}
		if needs != "" && !passed[needs] {
			tab.set(mp.name, name, cellResult{note: "needs the " + needs + " cell"})
			return
		}
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			verified, err := fn(t)
			r := cellResult{run: true, verified: verified, dur: time.Since(start)}
			want := matrixUnverified[mp.name][name]
			// A later cell needs this one's bytes, not its verdict.
			passed[name] = err == nil
			switch {
			case err != nil:
				r.failed = err.Error()
			case verified && want != "":
				r.failed = "checksumVerified is true now: delete the reason in matrixUnverified (" + want + ")"
			case !verified && want == "":
				r.failed = "checksumVerified is false and matrixUnverified gives no reason"
			case !verified:
				notes[name] = append(notes[name], "checksumVerified false: "+want)
			}
			r.note = strings.Join(notes[name], "; ")
			if r.failed != "" {
				t.Error(r.failed)
			}
			tab.set(mp.name, name, r)
		})
	}

	// continued checks that a resumed upload sent only what was left after
	// the parts done before it stopped (and some API calls), not the file
	// again, unless matrixStartsOver says why it cannot.
	continued := func(t *testing.T, cell string, doneBefore, sentAfter int64) error {
		t.Logf("%d MiB of 40 done before it stopped; %.1f MiB sent after", doneBefore>>20, float64(sentAfter)/(1<<20))
		left := matrixBigSize - doneBefore
		over := sentAfter > left+1<<20
		why := matrixStartsOver[mp.name]
		switch {
		case over && why == "":
			return fmt.Errorf("%d bytes sent after the resume with only %d left: the upload started over", sentAfter, left)
		case !over && why != "":
			return fmt.Errorf("the upload continued where it stopped: delete the reason in matrixStartsOver (%s)", why)
		case over:
			notes[cell] = append(notes[cell], "starts over: "+why)
		}
		return nil
	}

	bigKey := "matrix/big.bin"
	cell(cellUpload, "", func(t *testing.T) (bool, error) {
		large := h.gate.large.Load()
		id, err := c.Upload(ctx, p, amove.UploadRequest{AccountID: acct.ID, Bucket: bucket, Key: bigKey, LocalPath: files.big})
		if err != nil {
			return false, err
		}
		st, err := waitCompleted(ctx, c, p, id)
		if err != nil {
			return false, err
		}
		if st.BytesDone != matrixBigSize || st.BytesTotal != matrixBigSize || st.FilesDone != 1 {
			return false, fmt.Errorf("upload: %d/%d bytes, %d files", st.BytesDone, st.BytesTotal, st.FilesDone)
		}
		// Multi-part: five 8 MiB parts, so at least five large requests.
		if n := h.gate.large.Load() - large; n < matrixBigSize/matrixPartSize {
			return false, fmt.Errorf("the upload sent %d requests of 1 MiB or more: not in %d parts", n, matrixBigSize/matrixPartSize)
		}
		// The bytes are compared by the download cell; here the listing.
		page, err := c.ListObjects(ctx, p, acct.ID, bucket, provider.ListOptions{Prefix: "matrix/", Delimiter: "/"})
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(page.Objects, func(o provider.Object) bool { return o.Key == bigKey })
		if i < 0 || page.Objects[i].Size != matrixBigSize {
			return false, fmt.Errorf("%s not listed with its size after the upload: %+v", bigKey, page.Objects)
		}
		return st.ChecksumVerified, nil
	})

	cell(cellDownload, cellUpload, func(t *testing.T) (bool, error) {
		sum, st, err := download(acct.ID, bucket, bigKey)
		if err != nil {
			return false, err
		}
		return st.ChecksumVerified, same("downloaded file", sum, files.bigSum)
	})

	cell(cellFolderUp, "", func(t *testing.T) (bool, error) {
		id, err := c.Upload(ctx, p, amove.UploadRequest{AccountID: acct.ID, Bucket: bucket, Key: "matrix/folder/", LocalPath: files.folder})
		if err != nil {
			return false, err
		}
		st, err := waitCompleted(ctx, c, p, id)
		if err != nil {
			return false, err
		}
		if st.FilesDone != matrixSmall || st.FilesTotal != matrixSmall || st.FilesFailed != 0 {
			return false, fmt.Errorf("folder upload: %d of %d files done, %d failed", st.FilesDone, st.FilesTotal, st.FilesFailed)
		}
		return st.ChecksumVerified, nil
	})

	cell(cellFolderDown, cellFolderUp, func(t *testing.T) (bool, error) {
		dir := t.TempDir()
		id, err := c.Download(ctx, p, amove.DownloadRequest{AccountID: acct.ID, Bucket: bucket, Key: "matrix/folder/",
			LocalPath: dir + string(filepath.Separator)})
		if err != nil {
			return false, err
		}
		st, err := waitCompleted(ctx, c, p, id)
		if err != nil {
			return false, err
		}
		got, err := treeSHA256(dir)
		if err != nil {
			return false, err
		}
		if !maps.Equal(got, files.folderSums) {
			return false, fmt.Errorf("downloaded folder differs: %d files, want %d (first of ours: %v)",
				len(got), len(files.folderSums), firstDiff(got, files.folderSums))
		}
		return st.ChecksumVerified, nil
	})

	cell(cellCopy, cellUpload, func(t *testing.T) (bool, error) {
		id, err := c.Copy(ctx, p, amove.CopyRequest{SourceAccountID: acct.ID, SourceBucket: bucket, SourceKey: bigKey,
			DestAccountID: peer.ID, DestBucket: peerBucket, DestKey: "matrix/copy/big.bin"})
		if err != nil {
			return false, err
		}
		st, err := waitCompleted(ctx, c, p, id)
		if err != nil {
			return false, err
		}
		sum, _, err := download(peer.ID, peerBucket, "matrix/copy/big.bin")
		if err != nil {
			return false, fmt.Errorf("reading the copy back: %w", err)
		}
		drop(t, peer.ID, peerBucket, "matrix/copy/big.bin")
		drop(t, acct.ID, bucket, bigKey)
		return st.ChecksumVerified, same("copy at the peer", sum, files.bigSum)
	})

	cell(cellPause, "", func(t *testing.T) (bool, error) {
		// One part at a time through a slow link, so the upload is still
		// running when it is paused.
		pc, err := h.client(1)
		if err != nil {
			return false, err
		}
		defer pc.Close()
		h.gate.rate.Store(matrixSlow)
		defer h.gate.rate.Store(0)
		id, err := pc.Upload(ctx, p, amove.UploadRequest{AccountID: acct.ID, Bucket: bucket, Key: "matrix/pause.bin", LocalPath: files.pause})
		if err != nil {
			return false, err
		}
		if _, err := waitBytes(ctx, pc, p, id, matrixPartSize); err != nil {
			return false, err
		}
		if err := pc.PauseTransfer(ctx, p, id); err != nil {
			return false, fmt.Errorf("pause: %w", err)
		}
		st, err := pc.TransferStatus(ctx, p, id)
		if err != nil {
			return false, err
		}
		if st.State != transfer.Paused || st.BytesDone <= 0 || st.BytesDone >= st.BytesTotal {
			return false, fmt.Errorf("after pause: %s with %d of %d bytes done", st.State, st.BytesDone, st.BytesTotal)
		}
		h.gate.rate.Store(0)
		sent := h.gate.sent.Load()
		if err := pc.ResumeTransfer(ctx, p, id); err != nil {
			return false, fmt.Errorf("resume: %w", err)
		}
		done, err := waitCompleted(ctx, pc, p, id)
		if err != nil {
			return false, err
		}
		if err := continued(t, cellPause, st.BytesDone, h.gate.sent.Load()-sent); err != nil {
			return false, err
		}
		sum, _, err := download(acct.ID, bucket, "matrix/pause.bin")
		if err != nil {
			return false, err
		}
		drop(t, acct.ID, bucket, "matrix/pause.bin")
		return done.ChecksumVerified, same("object after pause and resume", sum, files.pauseSum)
	})

	cell(cellReopen, "", func(t *testing.T) (bool, error) {
		c1, err := h.client(1)
		if err != nil {
			return false, err
		}
		h.gate.rate.Store(matrixSlow)
		defer h.gate.rate.Store(0)
		id, err := c1.Upload(ctx, p, amove.UploadRequest{AccountID: acct.ID, Bucket: bucket, Key: "matrix/reopen.bin", LocalPath: files.reopen})
		if err != nil {
			c1.Close()
			return false, err
		}
		if _, err := waitBytes(ctx, c1, p, id, matrixPartSize); err != nil {
			c1.Close()
			return false, err
		}
		c1.Close() // as the agent stopping: the job stays running in the store
		h.gate.rate.Store(0)
		at, err := c.TransferStatus(ctx, p, id)
		if err != nil {
			return false, err
		}
		if at.State.Final() || at.BytesDone >= at.BytesTotal {
			return false, fmt.Errorf("after close: %s with %d of %d bytes done", at.State, at.BytesDone, at.BytesTotal)
		}
		sent := h.gate.sent.Load()
		c2, err := h.client(0)
		if err != nil {
			return false, err
		}
		defer c2.Close()
		if err := c2.RestoreTransfers(ctx); err != nil { // as the agent starting again
			return false, err
		}
		done, err := waitCompleted(ctx, c2, p, id)
		if err != nil {
			return false, err
		}
		if err := continued(t, cellReopen, at.BytesDone, h.gate.sent.Load()-sent); err != nil {
			return false, err
		}
		sum, _, err := download(acct.ID, bucket, "matrix/reopen.bin")
		if err != nil {
			return false, err
		}
		drop(t, acct.ID, bucket, "matrix/reopen.bin")
		return done.ChecksumVerified, same("object after close and reopen", sum, files.reopenSum)
	})
}

// firstDiff names the first path whose digest differs between got and want.
func firstDiff(got, want map[string]string) error {
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			return errors.New(k)
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			return errors.New("extra " + k)
		}
	}
	return nil
}
