package main

import (
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// decl extracts the declaration and the type from a report line.
var decl = regexp.MustCompile(`: (.+) names (\S+) \(`)

func TestCheckDir(t *testing.T) {
	got, err := checkDir(filepath.Join("testdata", "pub"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range got {
		m := decl.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected report %q", line)
		}
		names = append(names, m[1]+" -> "+m[2])
	}
	slices.Sort(names)
	want := []string{
		"func BadFunc -> hidden.T",
		"func BadResult -> other.U",
		"func Fields.BadMethod -> hidden.T",
		"type BadAlias -> hidden.T",
		"type BadDefined -> hidden.T",
		"type Fields field -> hidden.T",
		"type Fields field -> other.Embedded",
		"type Gen -> hidden.Constraint",
		"type Iface method -> hidden.T",
		"var BadVar -> hidden.T",
	}
	if !slices.Equal(names, want) {
		t.Errorf("reported %q\nwant      %q", names, want)
	}
}
