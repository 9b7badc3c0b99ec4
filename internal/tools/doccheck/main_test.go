package main

import (
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// name extracts the identifier from a report line.
var name = regexp.MustCompile(`: (?:type |const |var )?(\S+) has no doc comment$`)

func TestCheckDir(t *testing.T) {
	got, err := checkDir(filepath.Join("testdata", "pub"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range got {
		m := name.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected report %q", line)
		}
		names = append(names, m[1])
	}
	slices.Sort(names)
	want := []string{"BadConst", "BadFunc", "BadGrouped", "BadType", "BadVar", "G.BadGeneric", "I.BadInterfaceMethod", "T.BadMethod"}
	if !slices.Equal(names, want) {
		t.Errorf("reported %q\nwant      %q", names, want)
	}
}

func TestPackageComment(t *testing.T) {
	got, err := checkDir(filepath.Join("testdata", "nodoc"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !regexp.MustCompile(`package nodoc has no package comment$`).MatchString(got[0]) {
		t.Errorf("got %q, want one missing package comment", got)
	}
}

func TestMainPackagesSkipped(t *testing.T) {
	got, err := checkDir(filepath.Join("testdata", "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("got %q for a main package, want nothing", got)
	}
}

func TestCheckSkipsTestdataAndInternal(t *testing.T) {
	// Walking from this directory must not descend into testdata, whose
	// packages are full of undocumented names.
	got, err := check(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("got %q, want nothing outside testdata", got)
	}
}
