package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"github.com/minio/madmin-go"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/testenv"
	minioprov "github.com/amove/amove-go/managed/minio"
	"github.com/amove/amove-go/provider"
)

// managedEnv is an agent whose two managed-storage families are served by
// the MinIO backend on the test MinIO server.
func managedEnv(t *testing.T) (*env, testenv.S3) {
	t.Helper()
	srv := testenv.RequireS3(t)
	prov, err := minioprov.New(context.Background(), minioprov.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prov.Close() })
	// The real drivers (the S3 driver for the provisioned accounts); no
	// sampler ticking: the test samples when it needs to.
	e := newEnv(t, envConfig{managed: amove.ManagedOptions{Storj: prov, IDrive: prov, SampleInterval: -1}})
	return e, srv
}

func uniqueBucket(what string) string { return "prov-" + what + "-" + uuid.NewString()[:8] }

// s3Client speaks S3 with the given keys, without this module's driver:
// what a client that got its keys from get_amove_storage does.
func s3Client(endpoint, accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestManagedStorageMinIO is issue 17's "done when": through the HTTP
// routes, provision storage on MinIO, move bytes with it, keep it out of
// another tenant's bucket, measure it, manage buckets, and delete it.
func TestManagedStorageMinIO(t *testing.T) {
	ctx := context.Background()
	e, srv := managedEnv(t)
	tok := e.aliceTok

	// Another tenant with storage of its own.
	_, other, err := e.c.CreateTenant(ctx, "other", amove.NewUser{Username: "other-" + uuid.NewString()[:8], Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	otherTok, err := e.c.IssueToken(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	otherBucket := uniqueBucket("other")
	var otherAcct cloudAccount
	// Through the hosted routes: storage with the spec 004 body (no
	// bucket), then its bucket.
	must(t, e.hosted(t, "POST", "/api/v1/cloudaccount/idrive_add_storage", otherTok.Token, map[string]any{
		"storageTier": 2, "shared": false, "defaultPassword": "Other-Secret-Pass-1"}), 200, &otherAcct)
	t.Cleanup(func() { e.cloud(t, "DELETE", "/cloud/idrive_delete_storage?id="+otherAcct.ID, otherTok.Token, nil) })
	if !otherAcct.InternalStorage || otherAcct.StorageTier != 2 || strings.Contains(fmt.Sprint(otherAcct), "Other-Secret-Pass-1") {
		t.Fatalf("hosted idrive_add_storage: %+v", otherAcct)
	}
	must(t, e.hosted(t, "POST", "/api/v1/cloudaccount/idrive_create_bucket?cloudAccountId="+otherAcct.ID+"&bucketName="+otherBucket,
		otherTok.Token, nil), 200, nil)

	// Regions, then alice's storage in the first one.
	var regions []regionOut
	must(t, e.cloud(t, "GET", "/cloud/idrive_regions", tok, nil), 200, &regions)
	if len(regions) == 0 || regions[0].Code == "" || regions[0].Name == "" {
		t.Fatalf("regions %+v", regions)
	}
	var hostedRegions []regionOut
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/idrive_regions", tok, nil), 200, &hostedRegions)
	if len(hostedRegions) != len(regions) {
		t.Errorf("hosted regions %+v, agent %+v", hostedRegions, regions)
	}
	bucket := uniqueBucket("alice")
	var acct cloudAccount
	must(t, e.cloud(t, "POST", "/cloud/idrive_add_storage", tok, map[string]any{
		"cloudAccountName": "Amove", "bucketName": bucket, "regionCode": regions[0].Code, "storageTier": 2, "shared": false,
	}), 200, &acct)
	if !acct.InternalStorage || acct.StorageTier != 2 || acct.CloudType != int(provider.S3Generic) || acct.Name != "Amove" {
		t.Fatalf("account %+v", acct)
	}
	// A second storage in one region and tier: 499 Global.
	wantError(t, e.cloud(t, "POST", "/cloud/idrive_add_storage", tok, map[string]any{
		"cloudAccountName": "again", "regionCode": regions[0].Code, "storageTier": 2}), 499, "Global")
	// It is an ordinary account: listed, and the storage routes work on it.
	var listed []cloudAccount
	must(t, e.cloud(t, "GET", "/cloud/accounts", tok, nil), 200, &listed)
	found := false
	for _, a := range listed {
		found = found || (a.ID == acct.ID && a.InternalStorage)
	}
	if !found {
		t.Fatalf("the storage is not among alice's accounts: %+v", listed)
	}

	// Upload and download through the agent with the provisioned account.
	const size = 3<<20 + 12345
	src := writeRandom(t, e.root, "managed.bin", size)
	want := fileSHA(t, src)
	var up transferID
	must(t, e.cloud(t, "POST", "/cloud/upload_object", tok, map[string]any{
		"cloudAccount": map[string]any{"id": acct.ID}, "storageName": bucket, "uploadPath": "/in/", "localFilePath": src,
	}), 200, &up)
	if st := e.waitTransfer(t, tok, up.TransferID); st.Status != "completed" || st.TransferredBytes != size {
		t.Fatalf("upload: %+v", st)
	}
	dl := filepath.Join(e.root, "dl")
	if err := os.Mkdir(dl, 0o700); err != nil {
		t.Fatal(err)
	}
	var down transferID
	must(t, e.cloud(t, "POST", "/cloud/download_object", tok, map[string]any{
		"cloudAccount": map[string]any{"id": acct.ID}, "storageName": bucket, "downloadPath": dl,
		"objectKey": "in/managed.bin", "objectType": objectFile,
	}), 200, &down)
	if st := e.waitTransfer(t, tok, down.TransferID); st.Status != "completed" {
		t.Fatalf("download: %+v", st)
	}
	if fileSHA(t, filepath.Join(dl, "managed.bin")) != want {
		t.Fatal("the downloaded file differs from the uploaded one")
	}

	// The hosted get_amove_storage hands alice her own keys only.
	var creds []amoveStorageOut
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/get_amove_storage", tok, nil), 200, &creds)
	if len(creds) != 1 || creds[0].AccessKey == "" || creds[0].SecretKey == "" || creds[0].ServiceURL != srv.Endpoint {
		t.Fatalf("get_amove_storage: %+v", creds)
	}
	var bobCreds []amoveStorageOut
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/get_amove_storage", e.bobTok, nil), 200, &bobCreds)
	if len(bobCreds) != 0 {
		t.Errorf("bob gets %d storages' keys, want none", len(bobCreds))
	}
	// With them, a plain S3 client reads alice's object back, identical...
	cli := s3Client(creds[0].ServiceURL, creds[0].AccessKey, creds[0].SecretKey)
	obj, err := cli.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("in/managed.bin")})
	if err != nil {
		t.Fatalf("GetObject with the provisioned keys: %v", err)
	}
	got, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	orig, _ := os.ReadFile(src)
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("GetObject: %d bytes, %v; want the %d uploaded", len(got), err, len(orig))
	}
	// ...and reaches nothing of the other tenant's.
	_, err = cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(otherBucket), Key: aws.String("intruder"), Body: bytes.NewReader([]byte("x"))})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("PutObject into the other tenant's bucket: %v, want AccessDenied", err)
	}
	_, err = cli.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(otherBucket)})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("ListObjectsV2 of the other tenant's bucket: %v, want AccessDenied", err)
	}
	if _, err = cli.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(otherBucket)}); apiCode(err) != "AccessDenied" {
		t.Errorf("DeleteBucket of the other tenant's bucket: %v, want AccessDenied", err)
	}
	if _, err = cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(uniqueBucket("rogue"))}); apiCode(err) != "AccessDenied" {
		t.Errorf("CreateBucket with the provisioned keys: %v, want AccessDenied (buckets go through idrive_create_bucket)", err)
	}
	// Nor can alice's routes name the other tenant's storage or bucket.
	wantError(t, e.cloud(t, "DELETE", "/cloud/idrive_delete_storage?id="+otherAcct.ID, tok, nil), 499, "NOT_FOUND")
	wantError(t, e.cloud(t, "DELETE", "/cloud/idrive_delete_bucket?cloudAccountId="+acct.ID+"&bucketName="+otherBucket, tok, nil), 499, "NOT_FOUND")

	// Usage: the bytes written, after a sample; 0 in a tier without storage.
	if err := e.c.SampleUsage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want float64
	}{
		{"/cloud/idrive_get_usage?storageTier=2", size},
		{"/cloud/idrive_get_usage", size},
		{"/cloud/idrive_get_usage?storageTier=4", 0},
		{"/cloud/idrive_get_daily_usage?storageTier=0", size},
		{"/cloud/idrive_get_daily_usage?storageTier=8", 0},
	} {
		var n float64
		must(t, e.cloud(t, "GET", tc.path, tok, nil), 200, &n)
		if n != tc.want {
			t.Errorf("%s = %v, want %v", tc.path, n, tc.want)
		}
	}
	var hostedDaily float64
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/idrive_get_daily_usage?storageTier=2", tok, nil), 200, &hostedDaily)
	if hostedDaily != size {
		t.Errorf("hosted daily usage %v, want %d", hostedDaily, size)
	}
	wantError(t, e.cloud(t, "GET", "/cloud/idrive_get_usage?storageTier=3", tok, nil), 499, "DEFAULT")

	// Buckets of the IDrive family: by account id.
	extra := uniqueBucket("extra")
	q := "?cloudAccountId=" + acct.ID + "&bucketName=" + extra
	must(t, e.cloud(t, "POST", "/cloud/idrive_create_bucket"+q, tok, nil), 200, nil)
	var buckets struct {
		Data []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	must(t, e.cloud(t, "POST", "/cloud/list_buckets", tok, map[string]any{"id": acct.ID}), 200, &buckets)
	if len(buckets.Data) != 2 {
		t.Errorf("list_buckets on the storage: %+v, want 2", buckets)
	}
	must(t, e.hosted(t, "DELETE", "/api/v1/cloudaccount/idrive_delete_bucket"+q, tok, nil), 200, nil)
	wantError(t, e.cloud(t, "POST", "/cloud/idrive_create_bucket?bucketName="+extra, tok, nil), 499, "DEFAULT")

	// The Storj family: one storage, buckets by name, info.
	storjBucket, storjExtra := uniqueBucket("storj"), uniqueBucket("storj2")
	var storjAcct cloudAccount
	must(t, e.cloud(t, "POST", "/cloud/add_storage", tok, map[string]any{
		"cloudAccountName": "Amove Storage", "bucketName": storjBucket, "shared": false}), 200, &storjAcct)
	must(t, e.cloud(t, "POST", "/cloud/create_bucket?bucketName="+storjExtra, tok, nil), 200, nil)
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: creds[0].ServiceURL,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Write(ctx, storjExtra, "a/b.txt", bytes.NewReader(make([]byte, 777)), 777, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var bi bucketInfoOut
	must(t, e.cloud(t, "GET", "/cloud/get_bucket_info?bucketName="+storjExtra, tok, nil), 200, &bi)
	if bi.BucketName != storjExtra || bi.UsedBytes != 777 || bi.ObjectCount != 1 || bi.Region == "" || bi.Created == nil {
		t.Errorf("bucket info %+v", bi)
	}
	var ci cloudInfoOut
	must(t, e.cloud(t, "GET", "/cloud/get_cloud_info", tok, nil), 200, &ci)
	if ci.BucketCount != 2 || ci.UsedBytes != 777 || ci.ObjectCount != 1 || len(ci.Buckets) != 2 {
		t.Errorf("cloud info %+v", ci)
	}
	// delete_bucket removes a bucket with its objects.
	must(t, e.cloud(t, "DELETE", "/cloud/delete_bucket?bucketName="+storjExtra, tok, nil), 200, nil)
	must(t, e.cloud(t, "GET", "/cloud/get_cloud_info", tok, nil), 200, &ci)
	if ci.BucketCount != 1 {
		t.Errorf("cloud info after delete_bucket: %+v", ci)
	}
	wantError(t, e.cloud(t, "GET", "/cloud/get_bucket_info?bucketName="+storjExtra, tok, nil), 499, "NOT_FOUND")

	// Only internal storage can be deleted.
	plain := e.minioAccount(t, tok, srv)
	for _, path := range []string{"/cloud/delete_storage?id=", "/cloud/idrive_delete_storage?id="} {
		r := e.cloud(t, "DELETE", path+plain.ID, tok, nil)
		wantError(t, r, 499, "Global")
		if !bytes.Contains(r.body, []byte("Only internal storage can be deleted")) {
			t.Errorf("%s: %s", path, r.body)
		}
	}

	// Delete both storages; the MinIO users are gone.
	var ok bool
	must(t, e.cloud(t, "DELETE", "/cloud/delete_storage?id="+storjAcct.ID, tok, nil), 200, &ok)
	must(t, e.hosted(t, "DELETE", "/api/v1/cloudaccount/idrive_delete_storage?id="+acct.ID, tok, nil), 200, &ok)
	if !ok {
		t.Error("idrive_delete_storage did not answer true")
	}
	u, _ := url.Parse(srv.Endpoint)
	adm, err := madmin.New(u.Host, srv.AccessKey, srv.SecretKey, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.GetUserInfo(ctx, creds[0].AccessKey); err == nil {
		t.Errorf("MinIO user %s survives idrive_delete_storage", creds[0].AccessKey)
	}
	if _, err := cli.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Error("the deleted storage's keys still work")
	}
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/get_amove_storage", tok, nil), 200, &creds)
	if len(creds) != 0 {
		t.Errorf("get_amove_storage after deletion: %+v", creds)
	}
	// The other tenant's storage is untouched.
	if _, err := st.Stat(ctx, otherBucket, "nothing"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("the other tenant's bucket: %v, want it there (object not found)", err)
	}
}

// TestManagedNotConfigured: without a backend, every managed-storage route
// answers 501 with a message naming the cause; usage needs no backend.
func TestManagedNotConfigured(t *testing.T) {
	e := newMemoryEnv(t)
	for _, rt := range []struct{ method, path string }{
		{"POST", "/cloud/add_storage"}, {"DELETE", "/cloud/delete_storage?id=" + uuid.NewString()},
		{"POST", "/cloud/create_bucket?bucketName=x"}, {"DELETE", "/cloud/delete_bucket?bucketName=x"},
		{"GET", "/cloud/get_bucket_info?bucketName=x"}, {"GET", "/cloud/get_cloud_info"},
		{"POST", "/cloud/idrive_add_storage"}, {"GET", "/cloud/idrive_regions"},
	} {
		var body any
		if rt.method == "POST" && rt.path[len(rt.path)-1] == 'e' {
			body = map[string]any{"bucketName": "x"}
		}
		r := e.cloud(t, rt.method, rt.path, e.aliceTok, body)
		wantError(t, r, 501, "NOT_IMPLEMENTED")
		if !bytes.Contains(r.body, []byte("not configured")) {
			t.Errorf("%s: %s", rt.path, r.body)
		}
	}
	var n float64
	must(t, e.cloud(t, "GET", "/cloud/idrive_get_daily_usage", e.aliceTok, nil), 200, &n)
	var creds []amoveStorageOut
	must(t, e.hosted(t, "GET", "/api/v1/cloudaccount/get_amove_storage", e.aliceTok, nil), 200, &creds)
	if n != 0 || len(creds) != 0 {
		t.Errorf("usage %v, credentials %v: want 0 and none", n, creds)
	}
}
