package idrive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/amove/amove-go/provider"
)

// DefaultBaseURL is the IDrive e2 Reseller API.
const DefaultBaseURL = "https://api.idrivee2.com/api/reseller/v1"

// maxBody caps what the client reads of one answer.
const maxBody = 1 << 20

// Client speaks the IDrive e2 Reseller API: JSON over HTTPS, the reseller's
// API key in a "token" header, errors as {"error":{type,code,message}}.
// docs/managed-storage-idrive.md lists the calls and what of them is
// documented and what assumed. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
	retry provider.RetryPolicy
}

// NewClient returns a client of the API at baseURL (DefaultBaseURL when
// empty) with the reseller's API key; hc nil means
// provider.NewHTTPClient().
func NewClient(baseURL, apiKey string, hc *http.Client) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: idrive: base URL %q: want http(s)://host/path", provider.ErrInvalid, baseURL)
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, fmt.Errorf("%w: idrive: no reseller API key", provider.ErrInvalid)
	}
	if hc == nil {
		hc = provider.NewHTTPClient()
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: apiKey, hc: hc, retry: provider.RetryPolicy{Attempts: 4}}, nil
}

// APIError is an error answer of the API. errors.Is matches it with the
// provider sentinel of its status and code.
type APIError struct {
	Status  int
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error says what the API answered.
func (e *APIError) Error() string {
	return fmt.Sprintf("idrive: HTTP %d %s/%s: %s", e.Status, e.Type, e.Code, e.Message)
}

// Is maps the answer onto the provider sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case provider.ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	case provider.ErrPermission:
		return e.Status == http.StatusForbidden
	case provider.ErrExists:
		return strings.HasSuffix(e.Code, "_exists")
	case provider.ErrNotFound:
		return strings.HasSuffix(e.Code, "_not_found")
	case provider.ErrInvalid:
		return e.Status == http.StatusBadRequest && !strings.HasSuffix(e.Code, "_exists") && !strings.HasSuffix(e.Code, "_not_found")
	}
	return false
}

// call sends in as JSON to path with method and decodes the answer into
// out (when not nil). A 429 is retried after its Retry-After: the request
// was refused, not done, so even a creation is safe to send again.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	return c.retry.Do(ctx, func(err error) bool { return errors.Is(err, provider.ErrRateLimited) }, func() error {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("token", c.token)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return fmt.Errorf("idrive: %s %s: %w", method, path, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err != nil {
			return fmt.Errorf("idrive: %s %s: %w", method, path, err)
		}
		if len(data) > maxBody {
			return fmt.Errorf("idrive: %s %s: answer larger than %d bytes", method, path, maxBody)
		}
		if resp.StatusCode != http.StatusOK {
			apiErr := &APIError{Status: resp.StatusCode}
			var env struct {
				Error *APIError `json:"error"`
			}
			if json.Unmarshal(data, &env) == nil && env.Error != nil {
				apiErr.Type, apiErr.Code, apiErr.Message = env.Error.Type, env.Error.Code, env.Error.Message
			} else {
				apiErr.Message = http.StatusText(resp.StatusCode)
			}
			if resp.StatusCode == http.StatusTooManyRequests {
				return &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(resp.Header), Err: apiErr}
			}
			return apiErr
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("idrive: %s %s: bad answer: %w", method, path, err)
		}
		return nil
	})
}

// RegionInfo is one region of the reseller's account.
type RegionInfo struct {
	Key  string `json:"region_key"`
	Name string `json:"region_name"`
}

// Regions lists the regions users can be given storage in.
func (c *Client) Regions(ctx context.Context) ([]RegionInfo, error) {
	var out struct {
		Regions []RegionInfo `json:"regions"`
	}
	err := c.call(ctx, http.MethodGet, "/regions", nil, &out)
	return out.Regions, err
}

// NewUser is a reseller user to create.
type NewUser struct {
	Email     string
	Password  string // sent base64-encoded, as the API wants it
	FirstName string
	LastName  string
	// QuotaGB is the user's storage limit in GB; 0 sends none.
	QuotaGB int64
}

// CreateUser creates a user; an email in use is an error matching
// provider.ErrExists.
func (c *Client) CreateUser(ctx context.Context, u NewUser) error {
	in := map[string]any{
		"email":              u.Email,
		"password":           base64.StdEncoding.EncodeToString([]byte(u.Password)),
		"first_name":         u.FirstName,
		"last_name":          u.LastName,
		"email_notification": false,
	}
	if u.QuotaGB > 0 {
		in["quota"] = u.QuotaGB
	}
	return c.call(ctx, http.MethodPost, "/create_user", in, nil)
}

// RemoveUser removes a user with all its storage.
func (c *Client) RemoveUser(ctx context.Context, email string) error {
	return c.call(ctx, http.MethodPost, "/remove_user", map[string]any{"email": email}, nil)
}

// EnableUserRegion gives the user storage in region and returns its
// storage_dn, the host name of its S3 endpoint.
func (c *Client) EnableUserRegion(ctx context.Context, email, region string) (string, error) {
	var out struct {
		StorageAdded bool   `json:"storage_added"`
		StorageDN    string `json:"storage_dn"`
	}
	if err := c.call(ctx, http.MethodPost, "/enable_user_region", map[string]any{"email": email, "region": region}, &out); err != nil {
		return "", err
	}
	if out.StorageDN == "" {
		return "", fmt.Errorf("idrive: enable_user_region answered no storage_dn")
	}
	return out.StorageDN, nil
}

// RemoveUserRegion removes the user's storage at storageDN.
func (c *Client) RemoveUserRegion(ctx context.Context, email, storageDN string) error {
	return c.call(ctx, http.MethodPost, "/remove_user_region", map[string]any{"email": email, "storage_dn": storageDN}, nil)
}

// Access key permissions, the API's enumeration.
const (
	PermissionRead      = 0
	PermissionWrite     = 1
	PermissionReadWrite = 2
)

// AccessKey is an S3 key pair of a user's storage.
type AccessKey struct {
	ID     string `json:"access_key"`
	Secret string `json:"secret_key"`
}

// CreateAccessKey creates an S3 key pair named name with permissions on the
// user's storage at storageDN.
func (c *Client) CreateAccessKey(ctx context.Context, email, storageDN, name string, permissions int) (AccessKey, error) {
	var out struct {
		Data AccessKey `json:"data"`
	}
	err := c.call(ctx, http.MethodPost, "/create_access_key",
		map[string]any{"email": email, "storage_dn": storageDN, "name": name, "permissions": permissions}, &out)
	if err == nil && (out.Data.ID == "" || out.Data.Secret == "") {
		err = fmt.Errorf("idrive: create_access_key answered no key pair")
	}
	return out.Data, err
}

// RemoveAccessKey removes an access key.
func (c *Client) RemoveAccessKey(ctx context.Context, email, storageDN, accessKey string) error {
	return c.call(ctx, http.MethodPost, "/remove_access_key",
		map[string]any{"email": email, "storage_dn": storageDN, "access_key": accessKey}, nil)
}

// CreateBucket creates a bucket in the user's storage at storageDN; a
// taken name matches provider.ErrExists.
func (c *Client) CreateBucket(ctx context.Context, email, storageDN, bucket string) error {
	return c.call(ctx, http.MethodPost, "/create_bucket",
		map[string]any{"email": email, "storage_dn": storageDN, "bucket_name": bucket}, nil)
}

// DeleteBucket deletes an empty bucket of the user's storage.
func (c *Client) DeleteBucket(ctx context.Context, email, storageDN, bucket string) error {
	return c.call(ctx, http.MethodPost, "/delete_bucket",
		map[string]any{"email": email, "storage_dn": storageDN, "bucket_name": bucket}, nil)
}

// BucketUsage is what one bucket holds.
type BucketUsage struct {
	Name    string `json:"bucket_name"`
	Bytes   int64  `json:"storage_used"`
	Objects int64  `json:"object_count"`
	Created string `json:"created_at"` // RFC 3339
}

// StorageUsage is what a user's storage in one region holds.
type StorageUsage struct {
	Bytes   int64         `json:"storage_used"`
	Objects int64         `json:"object_count"`
	Quota   int64         `json:"quota"` // bytes; 0 when unlimited
	Buckets []BucketUsage `json:"buckets"`
}

// Usage reports what the user's storage at storageDN holds now.
func (c *Client) Usage(ctx context.Context, email, storageDN string) (StorageUsage, error) {
	var out StorageUsage
	err := c.call(ctx, http.MethodPost, "/usage_stats", map[string]any{"email": email, "storage_dn": storageDN}, &out)
	return out, err
}
