package gcs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"github.com/amove/amove-go/provider"
)

// HMACEndpoint is the XML API of Cloud Storage, which speaks the S3 protocol
// with HMAC keys.
const HMACEndpoint = "https://storage.googleapis.com"

// emulatorProject is the project id used against an emulator without
// credentials; fake-gcs-server ignores it, but the client needs one to list
// and create buckets.
const emulatorProject = "amove-test"

// serviceAccount is the part of a credentials JSON file the driver reads
// itself: the type to decide how to authenticate, the project for bucket
// calls, and the key for signing URLs.
type serviceAccount struct {
	Type        string `json:"type"`
	ProjectID   string `json:"project_id"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
}

// credentialsJSON returns the credentials JSON of cfg: CredentialsData, or a
// SecretKey that holds JSON (the Amove API stores the service-account file in
// the secret field for some accounts). It is empty when there is none.
func credentialsJSON(cfg provider.Config) string {
	if s := strings.TrimSpace(cfg.CredentialsData); s != "" {
		return s
	}
	if s := strings.TrimSpace(cfg.SecretKey); strings.HasPrefix(s, "{") {
		return s
	}
	return ""
}

// UsesHMAC reports whether cfg carries GCS HMAC keys (an access key and a
// secret that is not a JSON credentials file) and no JSON credentials. Such
// accounts speak the S3-compatible XML API, which this driver does not: they
// are served by the S3 driver against HMACEndpoint (see S3Config).
func UsesHMAC(cfg provider.Config) bool {
	return credentialsJSON(cfg) == "" && cfg.AccessKey != "" && cfg.SecretKey != ""
}

// S3Config turns a GCS account with HMAC keys into the configuration of the
// S3-compatible driver: same keys, the XML API endpoint (or cfg.Endpoint when
// overridden) and region "auto", which Cloud Storage accepts in SigV4.
func S3Config(cfg provider.Config) provider.Config {
	out := cfg
	out.CloudType, out.Driver = provider.S3Generic, provider.S3Generic.DriverName()
	if out.Endpoint == "" {
		out.Endpoint = HMACEndpoint
	}
	if out.Region == "" {
		out.Region = "auto"
	}
	return out
}

// settings is what Open derives from a Config.
type settings struct {
	opts    []option.ClientOption
	project string
	account serviceAccount // zero without JSON credentials
	// Presign URL host and scheme: set for an endpoint override.
	signHost     string
	signInsecure bool
}

// isEmulator reports whether endpoint is a plain-HTTP server, which can only
// be an emulator (fake-gcs-server): real Cloud Storage is HTTPS only.
func isEmulator(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && u.Scheme == "http"
}

// parseSettings builds the client options. The rules:
//
//   - JSON credentials of type service_account or authorized_user
//     authenticate the client. Other types (external_account and the like)
//     are refused: they make the client fetch URLs or run commands named in
//     the file, which an SDK fed user-supplied credentials must not do.
//   - An http:// Endpoint is an emulator: the client never authenticates (no
//     OAuth token requests), and the service-account key, if given, is used
//     only to sign URLs. An https:// Endpoint (a proxy, Private Service
//     Connect) authenticates as usual.
//   - Without JSON credentials the driver only opens an emulator; it never
//     falls back to the host's Application Default Credentials, which would
//     lend the server's own identity to an account that has none.
func parseSettings(ctx context.Context, cfg provider.Config) (settings, error) {
	var st settings
	creds := credentialsJSON(cfg)
	if creds != "" {
		if err := json.Unmarshal([]byte(creds), &st.account); err != nil {
			return st, fmt.Errorf("%w: gcs: credentials are not valid JSON: %v", provider.ErrInvalid, err)
		}
		st.project = st.account.ProjectID
	}
	emulator := cfg.Endpoint != "" && isEmulator(cfg.Endpoint)
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return st, fmt.Errorf("%w: gcs: endpoint %q is not an http(s) URL", provider.ErrInvalid, cfg.Endpoint)
		}
		base := strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/")
		st.opts = append(st.opts, option.WithEndpoint(base+"/storage/v1/"),
			// Reads through the XML path need STORAGE_EMULATOR_HOST against
			// an emulator; the JSON path honours the endpoint.
			storage.WithJSONReads())
		st.signHost = u.Host
		st.signInsecure = u.Scheme == "http"
	}

	var credType option.CredentialsType
	switch {
	case emulator:
		st.opts = append(st.opts, option.WithoutAuthentication())
		if st.project == "" {
			st.project = emulatorProject
		}
	case creds == "":
		return st, fmt.Errorf("%w: gcs: no credentials: give a service-account JSON in CredentialsData (HMAC keys go to the S3 driver, see gcs.UsesHMAC)", provider.ErrInvalid)
	case st.account.Type == "service_account":
		credType = option.ServiceAccount
	case st.account.Type == "authorized_user":
		credType = option.AuthorizedUser
	default:
		return st, fmt.Errorf("%w: gcs: credentials of type %q are not accepted (use a service_account or authorized_user JSON)", provider.ErrInvalid, st.account.Type)
	}

	if !emulator {
		credOpts := []option.ClientOption{
			option.WithAuthCredentialsJSON(credType, []byte(creds)),
			option.WithScopes(storage.ScopeFullControl),
		}
		if cfg.HTTPClient != nil {
			// WithHTTPClient bypasses the client's own authentication, so
			// wrap the caller's transport with it instead.
			base := cfg.HTTPClient.Transport
			if base == nil {
				base = http.DefaultTransport
			}
			tr, err := htransport.NewTransport(ctx, base, credOpts...)
			if err != nil {
				return st, fmt.Errorf("%w: gcs: credentials: %v", provider.ErrInvalid, err)
			}
			hc := *cfg.HTTPClient
			hc.Transport = tr
			st.opts = append(st.opts, option.WithHTTPClient(&hc))
		} else {
			st.opts = append(st.opts, credOpts...)
		}
	} else if cfg.HTTPClient != nil {
		st.opts = append(st.opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return st, nil
}
