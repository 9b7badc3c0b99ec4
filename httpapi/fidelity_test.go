package httpapi

import (
	"context"
	"net/url"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// regionMemory is the shared memory driver with regions, so includeRegion
// shows in the answer.
type regionMemory struct{ sharedMemory }

func (regionMemory) BucketRegion(context.Context, string) (string, error) { return "mem-1", nil }

// TestQueryBool: every boolean query parameter binds like ASP.NET Core's
// bool (true/false in any case) plus 1/0; anything else is 499 DEFAULT.
func TestQueryBool(t *testing.T) {
	mem := memory.New(memory.Options{})
	e := newEnv(t, envConfig{open: func(context.Context, provider.Config) (provider.Storage, error) {
		return regionMemory{sharedMemory{mem}}, nil
	}})
	e.mem = mem
	id := e.memoryAccount(t, e.aliceTok, "regions", "rb")

	cases := []struct {
		value      string // "-" for absent
		wantRegion bool
		status     int
	}{
		{"-", false, 200},
		{"", false, 200},
		{"true", true, 200},
		{"True", true, 200},
		{"TRUE", true, 200},
		{"tRuE", true, 200},
		{" true ", true, 200},
		{"1", true, 200},
		{"false", false, 200},
		{"False", false, 200},
		{"FALSE", false, 200},
		{"0", false, 200},
		{"yes", false, 499},
		{"t", false, 499},
		{"2", false, 499},
		{"on", false, 499},
		{"truee", false, 499},
	}
	for _, tc := range cases {
		t.Run("includeRegion="+tc.value, func(t *testing.T) {
			path := "/cloud/list_buckets"
			if tc.value != "-" {
				path += "?includeRegion=" + url.QueryEscape(tc.value)
			}
			r := e.cloud(t, "POST", path, e.aliceTok, map[string]any{"id": id})
			if tc.status != 200 {
				wantError(t, r, tc.status, "DEFAULT")
				return
			}
			var out bucketList
			must(t, r, 200, &out)
			if len(out.Data) != 1 {
				t.Fatalf("buckets %+v", out.Data)
			}
			if got := out.Data[0].Region != ""; got != tc.wantRegion {
				t.Errorf("region %q, want one: %v", out.Data[0].Region, tc.wantRegion)
			}
		})
	}
}
