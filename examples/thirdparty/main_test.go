package main

import (
	"context"
	"strings"
	"testing"
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
