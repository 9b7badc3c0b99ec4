package main

import (
	"context"
	"strings"
	"testing"
)

func TestManagedOptions(t *testing.T) {
	tests := []struct {
		name            string
		env             map[string]string
		storj, idrive   bool
		shared, wantErr string
	}{
		{name: "none", env: map[string]string{}},
		{name: "minio for both", env: map[string]string{envManagedStorj: "minio", envManagedIDrive: "MinIO",
			"AMOVE_MINIO_ADMIN_URL": "http://127.0.0.1:1", "AMOVE_MINIO_ADMIN_KEY": "k", "AMOVE_MINIO_ADMIN_SECRET": "s"},
			storj: true, idrive: true, shared: "yes"},
		{name: "idrive only", env: map[string]string{envManagedIDrive: "minio",
			"AMOVE_MINIO_ADMIN_URL": "http://127.0.0.1:1", "AMOVE_MINIO_ADMIN_KEY": "k", "AMOVE_MINIO_ADMIN_SECRET": "s"},
			idrive: true},
		{name: "unknown backend", env: map[string]string{envManagedStorj: "s4"}, wantErr: "unknown managed-storage backend"},
		{name: "minio without keys", env: map[string]string{envManagedStorj: "minio", "AMOVE_MINIO_ADMIN_URL": "http://127.0.0.1:1"},
			wantErr: "AMOVE_MANAGED_STORJ=minio: minio: the admin access key"},
		{name: "storj without a grant", env: map[string]string{envManagedStorj: "storj"}, wantErr: "AMOVE_MANAGED_STORJ=storj"},
		{name: "idrive without an API key", env: map[string]string{envManagedIDrive: "idrive"}, wantErr: "AMOVE_MANAGED_IDRIVE=idrive"},
		{name: "idrive", env: map[string]string{envManagedIDrive: "idrive", "AMOVE_IDRIVE_API_KEY": "key"}, idrive: true},
		{name: "bad interval", env: map[string]string{envManagedInterval: "often"}, wantErr: "AMOVE_MANAGED_SAMPLE_INTERVAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{envManagedStorj, envManagedIDrive, envManagedInterval,
				"AMOVE_MINIO_ADMIN_URL", "AMOVE_MINIO_ADMIN_KEY", "AMOVE_MINIO_ADMIN_SECRET", "AMOVE_STORJ_ACCESS_GRANT",
				"AMOVE_IDRIVE_API_KEY", "AMOVE_IDRIVE_API_URL"} {
				t.Setenv(k, tc.env[k])
			}
			var s settings
			opts, closeFn, err := s.managedOptions(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			if (opts.Storj != nil) != tc.storj || (opts.IDrive != nil) != tc.idrive {
				t.Errorf("storj %v idrive %v, want %v %v", opts.Storj != nil, opts.IDrive != nil, tc.storj, tc.idrive)
			}
			if tc.shared != "" && opts.Storj != opts.IDrive {
				t.Error("one backend name opened two backends")
			}
			if opts.Mailer != nil {
				t.Error("a mailer without -smtp")
			}
		})
	}
}
