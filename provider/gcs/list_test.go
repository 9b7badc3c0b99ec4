package gcs

import "testing"

func TestToken(t *testing.T) {
	for _, p := range []position{{name: "a/b.txt"}, {folder: true, name: "a/"}, {name: "ü 日本/x?y#z"}} {
		got, err := parseToken(p.token())
		if err != nil || got != p {
			t.Errorf("round trip of %+v = %+v, %v", p, got, err)
		}
	}
	for _, bad := range []string{"!!", "eA", "ag"} { // not base64; "x"; "j" (kind only)
		if _, err := parseToken(bad); err == nil {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := map[string]string{"a/": "a0", "p/d/": "p/d0", "x": "y", "é/": "é0"}
	for in, want := range cases {
		if got := prefixEnd(in); got != want {
			t.Errorf("prefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
	if (position{folder: true, name: "a/"}).startOffset() != "a0" || (position{name: "a/b"}).startOffset() != "a/b" {
		t.Error("startOffset")
	}
}

func TestChunkSize(t *testing.T) {
	cases := map[int64]int{0: defaultChunk, 1: chunkMultiple, 5 << 20: 5 << 20, 5<<20 + 1: 5<<20 + chunkMultiple, 1 << 40: maxChunk}
	for in, want := range cases {
		if got := chunkSize(in); got != want {
			t.Errorf("chunkSize(%d) = %d, want %d", in, got, want)
		}
	}
}
