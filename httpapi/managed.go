package httpapi

// The managed-storage routes (spec 000 "Storage Management (Storj)" and
// "Amove Storage", spec 004 "Amove: ..." and get_amove_storage): they
// translate to the Client's managed-storage calls, the Storj family's
// and the IDrive ("Amove") family's. The wire types of these routes are
// here, beside their only users.

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/managed"
)

// addStorageIn is the body of add_storage (cloudAccountName, bucketName,
// shared), of the agent's idrive_add_storage (the same plus regionCode and
// storageTier) and of the hosted one (regionName, storageTier, shared,
// defaultPassword).
type addStorageIn struct {
	CloudAccountName string `json:"cloudAccountName"`
	BucketName       string `json:"bucketName"`
	RegionCode       string `json:"regionCode"`
	RegionName       string `json:"regionName"`
	StorageTier      int    `json:"storageTier"`
	Shared           bool   `json:"shared"`
	DefaultPassword  string `json:"defaultPassword"`
}

// bucketInfoOut is the BucketInfoResponse (its fields are not in the spec;
// these are the ones it names: usage, object count, region).
type bucketInfoOut struct {
	BucketName  string     `json:"bucketName"`
	Region      string     `json:"region"`
	Created     *time.Time `json:"created,omitempty"`
	UsedBytes   int64      `json:"usedBytes"`
	ObjectCount int64      `json:"objectCount"`
}

func bucketInfoWire(b managed.BucketInfo) bucketInfoOut {
	out := bucketInfoOut{BucketName: b.Name, Region: b.Region, UsedBytes: b.Bytes, ObjectCount: b.Objects}
	if !b.Created.IsZero() {
		c := b.Created.UTC()
		out.Created = &c
	}
	return out
}

// cloudInfoOut is the CloudInfoResponse (not in the spec either: "total
// quota, used bytes, bucket count"); totalQuota 0 means no quota.
type cloudInfoOut struct {
	TotalQuota  int64           `json:"totalQuota"`
	UsedBytes   int64           `json:"usedBytes"`
	ObjectCount int64           `json:"objectCount"`
	BucketCount int             `json:"bucketCount"`
	Buckets     []bucketInfoOut `json:"buckets"`
}

// regionOut is an Amove region: {"name", "code"}.
type regionOut struct {
	Name string `json:"name"`
	Code string `json:"code"`
}

// amoveStorageOut is the hosted AmoveStorage, snake_case as spec 004 spells it.
type amoveStorageOut struct {
	AccessKey  string `json:"access_key"`
	SecretKey  string `json:"secret_key"`
	ServiceURL string `json:"service_url"`
}

// addStorage serves add_storage (Storj family) and idrive_add_storage.
func (s *Server) addStorage(f amove.Family) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in addStorageIn
		if err := decode(r, &in); err != nil {
			return err
		}
		region := in.RegionCode
		if region == "" {
			region = in.RegionName
		}
		a, err := s.c.AddStorage(r.Context(), principalFrom(r.Context()), f, amove.NewStorage{
			Name: in.CloudAccountName, Bucket: in.BucketName, Region: strings.TrimSpace(region),
			Tier: amove.StorageTier(in.StorageTier), Shared: in.Shared, Password: in.DefaultPassword})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, accountOut(a))
		return nil
	}
}

func (s *Server) deleteStorage(f amove.Family) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.c.DeleteStorage(r.Context(), principalFrom(r.Context()), f, r.URL.Query().Get("id")); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, true)
		return nil
	}
}

// createBucket and deleteBucket serve both families: the Storj routes name
// no account (cloudAccountId is then empty: the caller's storage).
func (s *Server) createBucket(f amove.Family) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		if err := s.c.CreateManagedBucket(r.Context(), principalFrom(r.Context()), f, accountParam(f, q.Get("cloudAccountId")), q.Get("bucketName")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
}

func (s *Server) deleteBucket(f amove.Family) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		if err := s.c.DeleteManagedBucket(r.Context(), principalFrom(r.Context()), f, accountParam(f, q.Get("cloudAccountId")), q.Get("bucketName")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
}

// accountParam is the account a bucket route is about. The IDrive routes
// require cloudAccountId; a missing one is an id that is not a uuid, not
// "the caller's storage".
func accountParam(f amove.Family, id string) string {
	if f == amove.FamilyIDrive && id == "" {
		return " "
	}
	return id
}

func (s *Server) bucketInfo(w http.ResponseWriter, r *http.Request) error {
	b, err := s.c.ManagedBucketInfo(r.Context(), principalFrom(r.Context()), amove.FamilyStorj, "", r.URL.Query().Get("bucketName"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bucketInfoWire(b))
	return nil
}

func (s *Server) cloudInfo(w http.ResponseWriter, r *http.Request) error {
	u, err := s.c.ManagedCloudInfo(r.Context(), principalFrom(r.Context()), amove.FamilyStorj, "")
	if err != nil {
		return err
	}
	out := cloudInfoOut{TotalQuota: u.Quota, UsedBytes: u.Bytes, ObjectCount: u.Objects, BucketCount: len(u.Buckets),
		Buckets: make([]bucketInfoOut, 0, len(u.Buckets))}
	for _, b := range u.Buckets {
		out.Buckets = append(out.Buckets, bucketInfoWire(b))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) regions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.c.ManagedRegions(r.Context(), principalFrom(r.Context()), amove.FamilyIDrive)
	if err != nil {
		return err
	}
	out := make([]regionOut, 0, len(list))
	for _, rg := range list {
		out = append(out, regionOut{Name: rg.Name, Code: rg.Code})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// usage serves idrive_get_usage (daily false) and idrive_get_daily_usage:
// a JSON number of bytes, as the spec's double.
func (s *Server) usage(daily bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		tier := 0
		if v := strings.TrimSpace(r.URL.Query().Get("storageTier")); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return invalid("query parameter storageTier must be an integer")
			}
			tier = n
		}
		get := s.c.Usage
		if daily {
			get = s.c.DailyUsage
		}
		n, err := get(r.Context(), principalFrom(r.Context()), amove.StorageTier(tier))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, float64(n))
		return nil
	}
}

// amoveStorage is the hosted get_amove_storage: the caller's own managed
// storage with its keys in clear (see docs/security.md). The agent issues
// no tokens with an encryption key, so the keys are never encrypted here.
func (s *Server) amoveStorage(w http.ResponseWriter, r *http.Request) error {
	list, err := s.c.StorageCredentials(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	out := make([]amoveStorageOut, 0, len(list))
	for _, m := range list {
		out = append(out, amoveStorageOut{AccessKey: m.AccessKey, SecretKey: m.SecretKey, ServiceURL: m.ServiceURL})
	}
	// Credentials: no cache may keep them.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}
