package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/providertest"
)

// TestRun runs the example as CI does: a driver registered from outside
// the driver tree carries an account, a listing and a verified upload and
// download through amove.Client.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out, t.TempDir()); err != nil {
		t.Fatalf("%v\noutput so far:\n%s", err, out.String())
	}
	for _, want := range []string{"uses driver " + DriverName, "bucket photos", "upload completed", "checksum verified: true", "matches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestInvalidInput: the driver checks no bucket or key; behind the
// portable layer, invalid input is still refused with ErrInvalid.
func TestInvalidInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), provider.Config{Endpoint: dir})
	if err != nil {
		t.Fatal(err)
	}
	pt := provider.NewPortable(st)
	defer pt.Close()
	providertest.Refused(t, pt, "b")
}
