// Package gcs is the Google Cloud Storage driver, on the JSON API through
// cloud.google.com/go/storage. It registers itself for provider.Google.
//
// Accounts with a service-account JSON (in CredentialsData, or in SecretKey)
// use this driver. Accounts with HMAC keys speak the S3-compatible XML API:
// Open hands them to the S3 driver registered for provider.S3Generic, with
// the endpoint https://storage.googleapis.com (see UsesHMAC and S3Config).
//
// Multipart uploads are built on compose: parts are temporary objects under
// the reserved prefix ".amove-uploads/" (see multipart.go), hidden from
// listings of any other prefix.
package gcs

import (
	"context"
	"fmt"
	"log/slog"

	"cloud.google.com/go/storage"

	"github.com/amove/amove-go/provider"
)

func init() {
	provider.Register(provider.Google.DriverName(), open)
}

// open is the registered Opener: HMAC keys are routed to the S3 driver (see
// UsesHMAC); when none is linked in, the error wraps
// provider.ErrUnsupported. Other configurations open this driver.
func open(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
	if UsesHMAC(cfg) {
		s3cfg := S3Config(cfg)
		if !provider.Registered(s3cfg.Driver) {
			return nil, fmt.Errorf("%w: gcs: HMAC keys use the S3-compatible XML API: open the account as %s with Endpoint %s (import the S3 driver)",
				provider.ErrUnsupported, s3cfg.CloudType, s3cfg.Endpoint)
		}
		return provider.Open(ctx, s3cfg)
	}
	return provider.OpenerOf(Open)(ctx, cfg)
}

// Storage is a Cloud Storage account. It is safe for concurrent use.
type Storage struct {
	client  *storage.Client
	project string
	account serviceAccount
	// signHost and signInsecure point presigned URLs at an overridden
	// endpoint (the emulator); empty means storage.googleapis.com.
	signHost     string
	signInsecure bool
	log          *slog.Logger
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Presigner         = (*Storage)(nil)
	_ provider.BucketManager     = (*Storage)(nil)
	_ provider.Copier            = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)
	_ provider.Regioner          = (*Storage)(nil)
)

// Open connects to Cloud Storage with the JSON credentials in cfg. HMAC
// keys speak the S3-compatible XML API, which this driver does not: Open
// refuses them with provider.ErrUnsupported, and provider.Open routes them
// to the S3 driver (see UsesHMAC and S3Config).
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	if UsesHMAC(cfg) {
		return nil, fmt.Errorf("%w: gcs: HMAC keys use the S3-compatible XML API: open the account with provider.Open (and the S3 driver) or with %s",
			provider.ErrUnsupported, HMACEndpoint)
	}
	st, err := parseSettings(ctx, cfg)
	if err != nil {
		return nil, err
	}
	client, err := storage.NewClient(ctx, st.opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: new client: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Storage{
		client:       client,
		project:      st.project,
		account:      st.account,
		signHost:     st.signHost,
		signInsecure: st.signInsecure,
		log:          log,
	}, nil
}

// Close releases the client's connections.
func (s *Storage) Close() error { return s.client.Close() }

// Hashes are the digests Cloud Storage reports for objects written in one
// request. Composed (multipart) objects have CRC32C only.
func (s *Storage) Hashes() []provider.Hash {
	return []provider.Hash{provider.HashMD5, provider.HashCRC32C}
}

// needProject returns the project id bucket listing and creation need.
func (s *Storage) needProject() (string, error) {
	if s.project == "" {
		return "", fmt.Errorf("%w: gcs: the credentials name no project_id, which listing and creating buckets need", provider.ErrInvalid)
	}
	return s.project, nil
}
