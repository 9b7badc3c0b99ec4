// Package idrive is a fake of the IDrive e2 Reseller API, built from what
// its documentation says and, where the documentation could not be read,
// from the assumptions docs/managed-storage-idrive.md lists:
//
//   - JSON bodies; the API key in a "token" header, else 401
//     {error:{type:"invalid_request_error",code:"unauthorized",...}};
//     bad input 400 {error:{type:"invalid_request_error",
//     code:"invalid_parameters",message,errors:[...]}} (documented);
//   - GET /users, GET /regions, and create_user (base64 password),
//     remove_user, enable_user_region (answers storage_added and
//     storage_dn), remove_user_region, create_access_key (answers
//     data.access_key and data.secret_key), remove_access_key,
//     create_bucket, delete_bucket (empty buckets only) and usage_stats, by
//     POST or PUT (clients of the real API use both);
//   - error codes ending in _exists and _not_found for taken and missing
//     users, storages, keys and buckets (assumed).
//
// A region can be backed by a real S3 server (a test's MinIO): its
// storage_dn is then that server's URL rather than a host name,
// create_access_key hands out the server's own credentials (keys the fake
// made up would not work there), bucket calls create and delete the bucket
// on it, and usage_stats lists it. Without one, storage is bookkeeping only.
//
// Server.Throttle's 429 answers with Retry-After are a test switch;
// the documentation lists no 429.
package idrive

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/internal/fakes/fakeauth"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/s3" // the S3Generic driver of S3-backed regions
)

// S3 is an S3 server a region's storage lives on.
type S3 struct{ Endpoint, AccessKey, SecretKey string }

// Region is one region the fake offers.
type Region struct {
	Key, Name string
	// S3, when set, backs the region's storage (see the package doc).
	S3 *S3
}

// Options configure the fake.
type Options struct {
	// APIKey is the reseller's key the "token" header must carry.
	APIKey  string
	Regions []Region
}

// Server is the fake, listening on loopback.
type Server struct {
	*httptest.Server
	// Throttle answers the next requests with 429 and Retry-After.
	Throttle fakeauth.Throttle
	opts     Options

	mu    sync.Mutex
	users map[string]*user // by email
}

type user struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	QuotaGB   int64  `json:"quota"`
	password  string
	storages  map[string]*storage // by storage_dn
}

type storage struct {
	region  Region
	keys    map[string]string    // access key -> secret
	buckets map[string]time.Time // name -> created
}

// New starts the fake; Close stops it.
func New(opts Options) *Server {
	s := &Server{opts: opts, users: map[string]*user{}}
	s.Server = httptest.NewServer(s)
	return s
}

// BaseURL is where the API is served: the client's base URL.
func (s *Server) BaseURL() string { return s.URL + "/api/reseller/v1" }

// Password returns the password a user was created with, decoded; ok is
// false for an unknown user.
func (s *Server) Password(email string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[email]
	if !ok {
		return "", false
	}
	return u.password, true
}

// Users returns the emails of the users, sorted.
func (s *Server) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.users))
}

type apiError struct {
	status        int
	typ, code     string
	message       string
	paramProblems []string
}

func (e *apiError) Error() string { return e.message }

func invalid(code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: code, message: msg}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"type": e.typ, "code": e.code, "message": e.message}
	if e.paramProblems != nil {
		body["errors"] = e.paramProblems
	}
	writeJSON(w, e.status, map[string]any{"error": body})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey == "" || r.Header.Get("token") != s.opts.APIKey {
		writeError(w, &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "unauthorized", message: "Authentication header missing/invalid"})
		return
	}
	if ok, after := s.Throttle.Take(); ok {
		w.Header().Set("Retry-After", strconv.Itoa(after))
		writeError(w, &apiError{status: http.StatusTooManyRequests, typ: "api_error", code: "too_many_requests", message: "Too many requests"})
		return
	}
	op, ok := strings.CutPrefix(r.URL.Path, "/api/reseller/v1/")
	if !ok {
		writeError(w, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found", message: "Unknown API"})
		return
	}
	if r.Method == http.MethodGet {
		switch op {
		case "users":
			s.mu.Lock()
			out := []*user{}
			for _, email := range slices.Sorted(maps.Keys(s.users)) {
				out = append(out, s.users[email])
			}
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, out)
		case "regions":
			out := []map[string]string{}
			for _, reg := range s.opts.Regions {
				out = append(out, map[string]string{"region_key": reg.Key, "region_name": reg.Name})
			}
			writeJSON(w, http.StatusOK, map[string]any{"regions": out})
		default:
			writeError(w, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found", message: "Unknown API"})
		}
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeError(w, &apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "invalid_request", message: "Invalid request"})
		return
	}
	var in map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		e := invalid("invalid_parameters", "Invalid parameter values, check errors for details")
		e.paramProblems = []string{"body: " + err.Error()}
		writeError(w, e)
		return
	}
	out, err := s.handle(r.Context(), op, in)
	if err != nil {
		var e *apiError
		if !errors.As(err, &e) {
			e = &apiError{status: http.StatusInternalServerError, typ: "api_error", code: "request_processing_failed", message: "Unable to process this request, please try again later"}
		}
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// str reads required string parameters.
func str(in map[string]any, names ...string) ([]string, error) {
	var out []string
	var problems []string
	for _, n := range names {
		v, _ := in[n].(string)
		if strings.TrimSpace(v) == "" {
			problems = append(problems, n+" is required")
		}
		out = append(out, v)
	}
	if problems != nil {
		e := invalid("invalid_parameters", "Invalid parameter values, check errors for details")
		e.paramProblems = problems
		return nil, e
	}
	return out, nil
}

func (s *Server) handle(ctx context.Context, op string, in map[string]any) (any, error) {
	switch op {
	case "create_user":
		return s.createUser(in)
	case "remove_user":
		v, err := str(in, "email")
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.users[v[0]]; !ok {
			return nil, invalid("user_not_found", "User does not exist")
		}
		delete(s.users, v[0])
		return map[string]any{"user_removed": true}, nil
	case "enable_user_region":
		return s.enableRegion(in)
	case "remove_user_region":
		v, err := str(in, "email", "storage_dn")
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		u, st, err := s.storageLocked(v[0], v[1])
		if err != nil {
			return nil, err
		}
		if len(st.buckets) > 0 {
			return nil, invalid("storage_not_empty", "Remove the buckets of this region first")
		}
		delete(u.storages, v[1])
		return map[string]any{"storage_removed": true}, nil
	case "create_access_key":
		return s.createKey(in)
	case "remove_access_key":
		v, err := str(in, "email", "storage_dn", "access_key")
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		_, st, err := s.storageLocked(v[0], v[1])
		if err != nil {
			return nil, err
		}
		if _, ok := st.keys[v[2]]; !ok {
			return nil, invalid("access_key_not_found", "Access key does not exist")
		}
		delete(st.keys, v[2])
		return map[string]any{"access_key_removed": true}, nil
	case "create_bucket", "delete_bucket":
		return s.bucket(ctx, op, in)
	case "usage_stats":
		return s.usage(ctx, in)
	}
	return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found", message: "Unknown API"}
}

func (s *Server) createUser(in map[string]any) (any, error) {
	v, err := str(in, "email", "password", "first_name")
	if err != nil {
		return nil, err
	}
	email := v[0]
	if at := strings.IndexByte(email, '@'); at < 1 || !strings.Contains(email[at:], ".") {
		return nil, invalid("invalid_parameters", "Invalid email address")
	}
	pw, err := base64.StdEncoding.DecodeString(v[1])
	if err != nil || len(pw) < 6 {
		return nil, invalid("invalid_parameters", "password must be base64 of at least 6 characters")
	}
	var quota int64
	if q, ok := in["quota"].(float64); ok {
		quota = int64(q)
	}
	last, _ := in["last_name"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[email]; ok {
		return nil, invalid("user_exists", "User with this email already exists")
	}
	s.users[email] = &user{Email: email, FirstName: v[2], LastName: last, QuotaGB: quota, password: string(pw), storages: map[string]*storage{}}
	return map[string]any{"user_created": true}, nil
}

func (s *Server) region(key string) (Region, bool) {
	for _, r := range s.opts.Regions {
		if r.Key == key {
			return r, true
		}
	}
	return Region{}, false
}

func (s *Server) enableRegion(in map[string]any) (any, error) {
	v, err := str(in, "email", "region")
	if err != nil {
		return nil, err
	}
	reg, ok := s.region(v[1])
	if !ok {
		return nil, invalid("region_not_found", "Region is not available")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[v[0]]
	if !ok {
		return nil, invalid("user_not_found", "User does not exist")
	}
	for _, st := range u.storages {
		if st.region.Key == reg.Key {
			return nil, invalid("storage_exists", "Region already enabled for this user")
		}
	}
	dn := fakeauth.ID(8) + "." + strings.ToLower(reg.Key) + ".idrivee2-fake.invalid"
	if reg.S3 != nil {
		dn = reg.S3.Endpoint
	}
	u.storages[dn] = &storage{region: reg, keys: map[string]string{}, buckets: map[string]time.Time{}}
	return map[string]any{"storage_added": true, "storage_dn": dn}, nil
}

// storageLocked finds a user's storage; s.mu must be held.
func (s *Server) storageLocked(email, dn string) (*user, *storage, error) {
	u, ok := s.users[email]
	if !ok {
		return nil, nil, invalid("user_not_found", "User does not exist")
	}
	st, ok := u.storages[dn]
	if !ok {
		return nil, nil, invalid("storage_not_found", "No storage with this storage_dn for the user")
	}
	return u, st, nil
}

func (s *Server) createKey(in map[string]any) (any, error) {
	v, err := str(in, "email", "storage_dn", "name")
	if err != nil {
		return nil, err
	}
	if p, ok := in["permissions"].(float64); !ok || p < 0 || p > 2 || p != float64(int(p)) {
		return nil, invalid("invalid_parameters", "permissions must be 0, 1 or 2")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, st, err := s.storageLocked(v[0], v[1])
	if err != nil {
		return nil, err
	}
	id, secret := "E2"+strings.ToUpper(fakeauth.ID(18)), fakeauth.ID(40)
	if st.region.S3 != nil {
		// Keys the fake made up would not open the real server.
		id, secret = st.region.S3.AccessKey, st.region.S3.SecretKey
	}
	st.keys[id] = secret
	return map[string]any{"data": map[string]string{"access_key": id, "secret_key": secret}}, nil
}

func openS3(ctx context.Context, s3 *S3) (provider.Storage, error) {
	return provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
}

func (s *Server) bucket(ctx context.Context, op string, in map[string]any) (any, error) {
	v, err := str(in, "email", "storage_dn", "bucket_name")
	if err != nil {
		return nil, err
	}
	name := v[2]
	if err := provider.CheckBucket(name); err != nil || len(name) < 3 || len(name) > 63 || strings.ToLower(name) != name {
		return nil, invalid("invalid_parameters", "Invalid bucket name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, st, err := s.storageLocked(v[0], v[1])
	if err != nil {
		return nil, err
	}
	_, have := st.buckets[name]
	if op == "create_bucket" && have {
		return nil, invalid("bucket_exists", "Bucket already exists")
	}
	if op == "delete_bucket" && !have {
		return nil, invalid("bucket_not_found", "Bucket does not exist")
	}
	if st.region.S3 != nil {
		// The lock is held across the S3 call: the fake is for tests.
		drv, err := openS3(ctx, st.region.S3)
		if err != nil {
			return nil, err
		}
		defer drv.Close()
		bm := drv.(provider.BucketManager)
		if op == "create_bucket" {
			err = bm.CreateBucket(ctx, name, "")
		} else {
			err = bm.DeleteBucket(ctx, name)
		}
		switch {
		case errors.Is(err, provider.ErrExists):
			return nil, invalid("bucket_exists", "Bucket already exists")
		case op == "delete_bucket" && errors.Is(err, provider.ErrInvalid):
			return nil, invalid("bucket_not_empty", "Bucket is not empty")
		case err != nil:
			return nil, fmt.Errorf("s3: %w", err)
		}
	}
	if op == "create_bucket" {
		st.buckets[name] = time.Now().UTC()
		return map[string]any{"bucket_created": true}, nil
	}
	delete(st.buckets, name)
	return map[string]any{"bucket_deleted": true}, nil
}

func (s *Server) usage(ctx context.Context, in map[string]any) (any, error) {
	v, err := str(in, "email", "storage_dn")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	u, st, err := s.storageLocked(v[0], v[1])
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	quota, region := u.QuotaGB*1e9, st.region
	buckets := maps.Clone(st.buckets)
	s.mu.Unlock()

	type bucketUsage struct {
		Name    string `json:"bucket_name"`
		Bytes   int64  `json:"storage_used"`
		Objects int64  `json:"object_count"`
		Created string `json:"created_at"`
	}
	out := struct {
		Bytes   int64         `json:"storage_used"`
		Objects int64         `json:"object_count"`
		Quota   int64         `json:"quota"`
		Buckets []bucketUsage `json:"buckets"`
	}{Quota: quota, Buckets: []bucketUsage{}}
	var drv provider.Storage
	if region.S3 != nil {
		if drv, err = openS3(ctx, region.S3); err != nil {
			return nil, err
		}
		defer drv.Close()
	}
	for _, name := range slices.Sorted(maps.Keys(buckets)) {
		b := bucketUsage{Name: name, Created: buckets[name].Format(time.RFC3339)}
		if drv != nil {
			for o, err := range provider.Walk(ctx, drv, name, provider.ListOptions{}) {
				if err != nil {
					return nil, fmt.Errorf("s3: %w", err)
				}
				b.Bytes += o.Size
				b.Objects++
			}
		}
		out.Bytes += b.Bytes
		out.Objects += b.Objects
		out.Buckets = append(out.Buckets, b)
	}
	return out, nil
}
