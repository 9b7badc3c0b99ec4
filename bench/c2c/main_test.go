package main

import "testing"

func TestSplitRemote(t *testing.T) {
	for _, tc := range []struct{ in, account, bucket, key string }{
		{"m:b/src/", "m", "b", "src/"},
		{"m2:b", "m2", "b", ""},
	} {
		a, b, k, err := splitRemote(tc.in)
		if err != nil || a != tc.account || b != tc.bucket || k != tc.key {
			t.Errorf("splitRemote(%q) = %q %q %q %v", tc.in, a, b, k, err)
		}
	}
	for _, bad := range []string{"b/src", ":b/x", "m:", "m:/x"} {
		if _, _, _, err := splitRemote(bad); err == nil {
			t.Errorf("splitRemote(%q): no error", bad)
		}
	}
}
