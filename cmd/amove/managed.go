package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/managed/idrive"
	"github.com/amove/amove-go/managed/minio"
	"github.com/amove/amove-go/managed/storj"
)

// Managed storage is configured by environment only (docs/managed-storage.md):
//
//	AMOVE_MANAGED_STORJ=minio    backend of add_storage, create_bucket, ...
//	AMOVE_MANAGED_IDRIVE=minio   backend of the idrive_* routes
//	AMOVE_MINIO_ADMIN_URL, AMOVE_MINIO_ADMIN_KEY, AMOVE_MINIO_ADMIN_SECRET
//	                             the MinIO server and its admin (root) credentials
//	AMOVE_MINIO_SERVICE_URL      the URL tenants reach it at (default: the admin URL)
//	AMOVE_MINIO_REGION           its S3 region (default us-east-1)
//	AMOVE_STORJ_ACCESS_GRANT     storj: the operator's access grant (whole project)
//	AMOVE_IDRIVE_API_KEY, AMOVE_IDRIVE_API_URL, AMOVE_IDRIVE_EMAIL_DOMAIN, AMOVE_IDRIVE_DEFAULT_REGION
//	                             idrive: the Reseller API (URL default: IDrive's)
//	AMOVE_MANAGED_SAMPLE_INTERVAL  how often usage is sampled (default 1h)
//
// An unset family is not configured: its routes answer 501.
const (
	envManagedStorj    = "AMOVE_MANAGED_STORJ"
	envManagedIDrive   = "AMOVE_MANAGED_IDRIVE"
	envManagedInterval = "AMOVE_MANAGED_SAMPLE_INTERVAL"
)

// managedOptions reads the managed-storage configuration and opens the
// backends it names; the returned function closes them, after the Client.
func (s *settings) managedOptions(ctx context.Context) (amove.ManagedOptions, func(), error) {
	opts := amove.ManagedOptions{Mailer: s.mailer()}
	if v := os.Getenv(envManagedInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d == 0 {
			return opts, nil, fmt.Errorf("%s=%q: want a duration such as 1h (negative: never)", envManagedInterval, v)
		}
		opts.SampleInterval = d
	}
	opened := map[string]managed.Provisioner{} // one backend serves both families when both name it
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	for _, fam := range []struct {
		env string
		set *managed.Provisioner
	}{{envManagedStorj, &opts.Storj}, {envManagedIDrive, &opts.IDrive}} {
		name := strings.ToLower(strings.TrimSpace(os.Getenv(fam.env)))
		if name == "" {
			continue
		}
		if p, ok := opened[name]; ok {
			*fam.set = p
			continue
		}
		p, closeFn, err := openBackend(ctx, name)
		if err != nil {
			closeAll()
			return opts, nil, fmt.Errorf("%s=%s: %w", fam.env, name, err)
		}
		opened[name], *fam.set = p, p
		closers = append(closers, closeFn)
	}
	return opts, closeAll, nil
}

// openBackend opens the managed-storage backend called name, configured
// from its own AMOVE_<NAME>_* variables. A new backend is one case here.
func openBackend(ctx context.Context, name string) (managed.Provisioner, func() error, error) {
	switch name {
	case "minio":
		cfg := minio.Config{Endpoint: os.Getenv("AMOVE_MINIO_ADMIN_URL"), AccessKey: os.Getenv("AMOVE_MINIO_ADMIN_KEY"),
			SecretKey: os.Getenv("AMOVE_MINIO_ADMIN_SECRET"), ServiceURL: os.Getenv("AMOVE_MINIO_SERVICE_URL"),
			Region: os.Getenv("AMOVE_MINIO_REGION")}
		p, err := minio.New(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return p, p.Close, nil
	case "storj":
		p, err := storj.New(ctx, os.Getenv("AMOVE_STORJ_ACCESS_GRANT"))
		if err != nil {
			return nil, nil, err
		}
		return p, p.Close, nil
	case "idrive":
		p, err := idrive.NewWithConfig(idrive.Config{BaseURL: os.Getenv("AMOVE_IDRIVE_API_URL"),
			APIKey: os.Getenv("AMOVE_IDRIVE_API_KEY"), EmailDomain: os.Getenv("AMOVE_IDRIVE_EMAIL_DOMAIN"),
			DefaultRegion: os.Getenv("AMOVE_IDRIVE_DEFAULT_REGION")})
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return nil }, nil
	}
	return nil, nil, errors.New("unknown managed-storage backend (known: minio, storj, idrive)")
}

// mailer is the SMTP mailer of the settings, or nil when none is set.
func (s *settings) mailer() httpapi.Mailer {
	if s.SMTP.Addr == "" {
		return nil
	}
	return httpapi.SMTPMailer{Addr: s.SMTP.Addr, From: s.SMTP.From, Username: s.SMTP.Username, Password: s.SMTP.Password}
}
