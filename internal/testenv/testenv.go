// Package testenv tells tests where the test servers started by
// scripts/test.sh (or .ci/run) listen. A test that needs a server calls the
// matching function: when the server is not configured the test is skipped
// when run by hand, and fails under CI=true, so CI never passes by skipping.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Server addresses, exported by scripts/testservers.sh.
const (
	EnvS3Endpoint    = "AMOVE_TEST_S3_ENDPOINT" // http://127.0.0.1:9000
	EnvS3AccessKey   = "AMOVE_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey   = "AMOVE_TEST_S3_SECRET_KEY"
	EnvAzureEndpoint = "AMOVE_TEST_AZURE_ENDPOINT" // http://127.0.0.1:10000/devstoreaccount1
	EnvAzureAccount  = "AMOVE_TEST_AZURE_ACCOUNT"
	EnvAzureKey      = "AMOVE_TEST_AZURE_KEY"
	EnvGCSEndpoint   = "AMOVE_TEST_GCS_ENDPOINT" // http://127.0.0.1:4443
	EnvPostgresDSN   = "AMOVE_TEST_POSTGRES_DSN" // postgres://...
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// server is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the values of the named variables, skipping the test (or
// failing it under CI) when any is unset.
func Require(t testing.TB, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			msg := n + " is not set: start the test servers with scripts/test.sh (or source scripts/testservers.sh)"
			if InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return vals
}

// S3 is a running S3-compatible server (MinIO).
type S3 struct{ Endpoint, AccessKey, SecretKey string }

// RequireS3 returns the MinIO server of the test run.
func RequireS3(t testing.TB) S3 {
	t.Helper()
	v := Require(t, EnvS3Endpoint, EnvS3AccessKey, EnvS3SecretKey)
	return S3{Endpoint: v[0], AccessKey: v[1], SecretKey: v[2]}
}

// Azure is a running Azure Blob endpoint (Azurite).
type Azure struct{ Endpoint, Account, Key string }

// RequireAzure returns the Azurite server of the test run.
func RequireAzure(t testing.TB) Azure {
	t.Helper()
	v := Require(t, EnvAzureEndpoint, EnvAzureAccount, EnvAzureKey)
	return Azure{Endpoint: v[0], Account: v[1], Key: v[2]}
}

// RequireGCS returns the fake-gcs-server endpoint of the test run.
func RequireGCS(t testing.TB) string {
	t.Helper()
	return Require(t, EnvGCSEndpoint)[0]
}

// RequirePostgres returns a DSN for an empty database the test may use.
func RequirePostgres(t testing.TB) string {
	t.Helper()
	return Require(t, EnvPostgresDSN)[0]
}

// RequireCommand returns the path of the named program (looked up in PATH),
// skipping the test (or failing it under CI) when it is not installed.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed: .ci/run installs it (apt-get install " + name + ")"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}
