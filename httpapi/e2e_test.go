package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// socketLog reads a /notification socket in the background and keeps every
// message.
type socketLog struct {
	mu   sync.Mutex
	msgs [][]byte
	done chan struct{}
}

func dialNotifications(t *testing.T, e *env, token string) *socketLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/notification?token="+token, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l := &socketLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				return
			}
			l.mu.Lock()
			l.msgs = append(l.msgs, msg)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		conn.CloseNow()
		<-l.done
	})
	return l
}

// envelopes returns the messages of type typ, decoded.
func (l *socketLog) envelopes(t testing.TB, typ int) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.msgs {
		var env struct {
			Type int
			Data map[string]any
		}
		if err := json.Unmarshal(m, &env); err != nil {
			t.Fatalf("socket message %s: %v", m, err)
		}
		if env.Type == typ {
			out = append(out, env.Data)
		}
	}
	return out
}

// waitFor polls the socket log until cond holds.
func (l *socketLog) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s on the socket", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileSHA(t testing.TB, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestEndToEnd drives every implemented endpoint group through a real
// http.Server against MinIO, as one user would: sign in, add an account,
// browse, upload 64 MiB with progress on the socket, download it back,
// share links, control transfers, clean up. At the end no response body may
// hold the account's secret key.
func TestEndToEnd(t *testing.T) {
	s3env, bucket := minio(t)
	e := newEnv(t, envConfig{})

	// Sign in: the token the rest of the test uses comes from the API.
	var login struct {
		JWTToken  string `json:"jwtToken"`
		Challenge int    `json:"challenge"`
	}
	must(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": alicePassword}), 200, &login)
	if login.JWTToken == "" || login.Challenge != 0 {
		t.Fatalf("login answered %+v", login)
	}
	wantError(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": "wrong-password"}), 401, "AUTH")
	tok := login.JWTToken

	sock := dialNotifications(t, e, tok)

	// Accounts.
	acct := e.minioAccount(t, tok, s3env)
	if acct.ID == "" || acct.UserID != e.alice.ID || acct.AccountID != e.alice.TenantID || !acct.Active {
		t.Fatalf("inserted account %+v", acct)
	}
	if acct.SecretKey == s3env.SecretKey || acct.AccessKey == s3env.AccessKey {
		t.Fatal("insert_account answered the plaintext keys")
	}
	var accts []cloudAccount
	must(t, e.cloud(t, "GET", "/cloud/accounts", tok, nil), 200, &accts)
	if len(accts) != 1 || accts[0].ID != acct.ID {
		t.Fatalf("accounts: %+v", accts)
	}
	var got cloudAccount
	must(t, e.cloud(t, "GET", "/cloud/account?id="+acct.ID, tok, nil), 200, &got)
	if got.ID != acct.ID || got.Endpoint != s3env.Endpoint {
		t.Fatalf("account: %+v", got)
	}
	var all collection[cloudAccount]
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/get_all", tok, nil), 200, &all)
	if all.Total != 1 || len(all.Data) != 1 || all.Data[0].ID != acct.ID {
		t.Fatalf("get_all: %+v", all)
	}
	must(t, e.cloud(t, "PUT", "/cloud/manage_share", tok, map[string]any{"id": acct.ID, "shared": true}), 200, nil)
	must(t, e.hosted(t, "PUT", "/api/v1/cloudaccount/manage_share", tok, map[string]any{"id": acct.ID, "shared": false}), 200, nil)
	must(t, e.cloud(t, "GET", "/cloud/account?id="+acct.ID, tok, nil), 200, &got)
	if got.Shared {
		t.Fatal("manage_share did not unshare the account")
	}

	// The hosted API inserts and deletes a second account.
	var second cloudAccount
	must(t, e.hosted(t, "POST", "/api/v1/cloudaccount/insert", tok, map[string]any{
		"cloudType": 8, "name": "minio 2", "endpoint": s3env.Endpoint, "accessKey": s3env.AccessKey, "secretKey": s3env.SecretKey,
	}), 200, &second)
	must(t, e.hosted(t, "DELETE", "/api/v1/cloudaccount/delete?id="+second.ID, tok, nil), 200, nil)
	wantError(t, e.cloud(t, "GET", "/cloud/account?id="+second.ID, tok, nil), 499, "NOT_FOUND")

	// Buckets: stored account, hosted, and the credentials probe.
	hasBucket := func(r reply) {
		t.Helper()
		var bl bucketList
		must(t, r, 200, &bl)
		for _, b := range bl.Data {
			if b.Name == bucket {
				return
			}
		}
		t.Fatalf("%s: bucket %s not listed in %s", r.path, bucket, r.body)
	}
	hasBucket(e.cloud(t, "POST", "/cloud/list_buckets", tok, map[string]any{"id": acct.ID}))
	hasBucket(e.cloud(t, "POST", "/cloud/list_buckets?includeRegion=true", tok, map[string]any{"id": acct.ID}))
	hasBucket(e.hosted(t, "POST", "/api/v1/cloudaccount/list_buckets", tok, map[string]any{"cloudAccountId": acct.ID, "includeRegion": false}))
	hasBucket(e.cloud(t, "POST", "/cloud/list_buckets", tok, map[string]any{
		"cloudType": 8, "name": "probe", "endpoint": s3env.Endpoint, "accessKey": s3env.AccessKey, "secretKey": s3env.SecretKey,
	}))
	// Amove storage is not implemented: 501, not a silent success.
	wantError(t, e.cloud(t, "POST", "/cloud/create_bucket", tok, map[string]any{"name": "x"}), 501, "NOT_IMPLEMENTED")

	// Folders and listing.
	must(t, e.cloud(t, "POST", "/cloud/create_folder", tok, map[string]any{
		"cloudAccount": map[string]any{"id": acct.ID}, "storageName": bucket, "path": "/", "folderName": "big",
	}), 200, nil)
	listing := func(r reply) objectList {
		t.Helper()
		var ol objectList
		must(t, r, 200, &ol)
		return ol
	}
	ol := listing(e.cloud(t, "POST", "/cloud/list_objects", tok, map[string]any{
		"account": map[string]any{"id": acct.ID}, "request": map[string]any{"bucketName": bucket, "path": "/"},
	}))
	if len(ol.Data) != 1 || ol.Data[0].Key != "big/" || !ol.Data[0].IsFolder || ol.Data[0].ObjectType != objectDirectory {
		t.Fatalf("list_objects after create_folder: %+v", ol)
	}

	// Upload 64 MiB with upload_object; progress arrives on the socket.
	src := writeRandom(t, e.root, "big.bin", 64<<20)
	want := fileSHA(t, src)
	var up transferID
	must(t, e.cloud(t, "POST", "/cloud/upload_object", tok, map[string]any{
		"cloudAccount": map[string]any{"id": acct.ID}, "storageName": bucket, "uploadPath": "/big/", "localFilePath": src,
	}), 200, &up)
	st := e.waitTransfer(t, tok, up.TransferID)
	if st.Status != "completed" || st.TransferredBytes != 64<<20 || st.TotalBytes != 64<<20 || st.Progress != 100 ||
		st.TargetBucket != bucket || st.TargetPath != "big/big.bin" || st.EndTime == nil {
		t.Fatalf("upload status: %+v", st)
	}
	sock.waitFor(t, "completed state event", func() bool {
		for _, d := range sock.envelopes(t, notifyProgress) {
			if d["transferId"] == up.TransferID && d["status"] == "completed" {
				return true
			}
		}
		return false
	})
	var partial bool
	for _, d := range sock.envelopes(t, notifyProgress) {
		if d["transferId"] != up.TransferID {
			continue
		}
		if n, _ := d["transferredBytes"].(float64); n > 0 && n < 64<<20 {
			partial = true
		}
	}
	if !partial {
		t.Error("no progress event with 0 < transferredBytes < 64 MiB on the socket")
	}
	if len(sock.envelopes(t, notifyUser)) == 0 {
		t.Error("no UserNotification for the finished upload")
	}
	if len(sock.envelopes(t, notifyApp)) == 0 {
		t.Error("no AppNotification after the POST calls")
	}

	hosted := listing(e.hosted(t, "POST", "/api/v1/cloudaccount/list_objects", tok, map[string]any{
		"cloudAccountId": acct.ID, "bucketName": bucket, "path": "big", "count": 10,
	}))
	var found bool
	for _, o := range hosted.Data {
		if o.Key == "big/big.bin" && o.Size == 64<<20 && o.Name == "big.bin" {
			found = true
		}
	}
	if !found {
		t.Fatalf("hosted list_objects does not show big/big.bin: %+v", hosted)
	}

	// Download it back with download_object and compare.
	dl := filepath.Join(e.root, "downloads")
	if err := os.Mkdir(dl, 0o700); err != nil {
		t.Fatal(err)
	}
	var down transferID
	must(t, e.cloud(t, "POST", "/cloud/download_object", tok, map[string]any{
		"cloudAccount": map[string]any{"id": acct.ID}, "storageName": bucket, "downloadPath": dl,
		"objectKey": "big/big.bin", "objectType": objectFile,
	}), 200, &down)
	if st := e.waitTransfer(t, tok, down.TransferID); st.Status != "completed" {
		t.Fatalf("download status: %+v", st)
	}
	if fileSHA(t, filepath.Join(dl, "big.bin")) != want {
		t.Fatal("the downloaded file differs from the uploaded one")
	}

	// Presigned URLs: PUT a small object, GET it back.
	small := []byte("hello through a presigned URL\n")
	var putURL, getURL string
	must(t, e.cloud(t, "POST", "/cloud/generate_upload_url", tok, map[string]any{
		"cloudAccountId": acct.ID, "storageName": bucket, "key": "small.txt", "expireHours": 1,
	}), 200, &putURL)
	req, _ := http.NewRequest("PUT", putURL, bytes.NewReader(small))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT to the presigned URL: %s", res.Status)
	}
	must(t, e.cloud(t, "POST", "/cloud/generate_download_url", tok, map[string]any{
		"cloudAccount": map[string]any{"id": acct.ID}, "storageName": bucket, "key": "small.txt", "forceToDownload": true,
	}), 200, &getURL)
	res, err = http.Get(getURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body, small) {
		t.Fatalf("GET of the presigned URL: %s %q", res.Status, body)
	}

	// Transfers: both are listed; finished ones cannot be paused.
	var ts []transferStatus
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", tok, nil), 200, &ts)
	if len(ts) != 2 {
		t.Fatalf("client_transfer/all: %+v", ts)
	}
	wantError(t, e.cloud(t, "POST", "/cloud/client_transfer/"+up.TransferID+"/pause", tok, nil), 400, "DEFAULT")

	// Delete the objects and the account.
	for _, key := range []string{"small.txt", "big/big.bin", "big/"} {
		must(t, e.cloud(t, "POST", "/cloud/delete_object", tok, map[string]any{
			"cloudAccountId": acct.ID, "storageName": bucket, "key": key,
		}), 200, nil)
	}
	ol = listing(e.cloud(t, "POST", "/cloud/list_objects", tok, map[string]any{
		"account": map[string]any{"id": acct.ID}, "request": map[string]any{"bucketName": bucket},
	}))
	if len(ol.Data) != 0 {
		t.Fatalf("objects left after delete_object: %+v", ol)
	}
	must(t, e.cloud(t, "DELETE", "/cloud/delete?id="+acct.ID, tok, nil), 200, nil)
	must(t, e.cloud(t, "GET", "/cloud/accounts", tok, nil), 200, &accts)
	if len(accts) != 0 {
		t.Fatalf("accounts after delete: %+v", accts)
	}

	if n := len(e.replies); n < 30 {
		t.Fatalf("only %d replies recorded", n)
	}
	sweepSecrets(t, e, sock, s3env.AccessKey, s3env.SecretKey)
}

// sweepSecrets fails the test when a response body or socket message holds
// a plaintext key. A presigned URL necessarily holds the access key id (it is
// SigV4's X-Amz-Credential, not a secret), so the presign answers are only
// swept for the secret key.
func sweepSecrets(t *testing.T, e *env, sock *socketLog, accessKey, secretKey string) {
	t.Helper()
	presign := map[string]bool{"/cloud/generate_download_url": true, "/cloud/generate_upload_url": true}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.replies {
		_, p, _ := strings.Cut(r.path, " ")
		p, _, _ = strings.Cut(p, "?")
		if bytes.Contains(r.body, []byte(secretKey)) || (!presign[p] && bytes.Contains(r.body, []byte(accessKey))) {
			t.Errorf("%s: the response body holds a plaintext key: %s", r.path, r.body)
		}
	}
	if sock != nil {
		sock.mu.Lock()
		defer sock.mu.Unlock()
		for _, m := range sock.msgs {
			if bytes.Contains(m, []byte(secretKey)) || bytes.Contains(m, []byte(accessKey)) {
				t.Errorf("a socket message holds a plaintext key: %s", m)
			}
		}
	}
}
