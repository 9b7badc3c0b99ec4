// Package pubpkg finds and parses the public packages of the module, for
// the checks .ci/run runs on the exported API (doccheck, apicheck).
//
// A public package is one whose import path has no "internal" element and
// whose name is not main (so cmd/ and examples/ are skipped); _test.go
// files and files excluded by build constraints are left out, and so are
// testdata, vendor, hidden and nested-module folders.
package pubpkg

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Package is one parsed public package.
type Package struct {
	Dir   string
	Name  string
	Fset  *token.FileSet
	Files []*ast.File // in the order of build.Package.GoFiles
	Paths []string    // the file of each of Files
}

// Load parses the package in dir with mode; nil when dir holds no Go
// package or a main one.
func Load(dir string, mode parser.Mode) (*Package, error) {
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		if _, ok := err.(*build.NoGoError); ok {
			return nil, nil
		}
		return nil, err
	}
	if bp.Name == "main" {
		return nil, nil
	}
	p := &Package{Dir: dir, Name: bp.Name, Fset: token.NewFileSet()}
	for _, name := range bp.GoFiles {
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(p.Fset, path, nil, mode|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		p.Files, p.Paths = append(p.Files, f), append(p.Paths, path)
	}
	return p, nil
}

// Check runs check on every public package below root and returns its
// reports ("file:line:col: ..."), sorted by file and line.
func Check(root string, check func(dir string) ([]string, error)) ([]string, error) {
	var reports []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (name == "internal" || name == "testdata" || name == "vendor" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if path != root {
			// A nested module is not part of this one.
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		r, err := check(path)
		reports = append(reports, r...)
		return err
	})
	slices.SortFunc(reports, compareReports)
	return reports, err
}

// compareReports orders "file.go:12:3: ..." lines by file, then line.
func compareReports(a, b string) int {
	fa, la := splitPos(a)
	fb, lb := splitPos(b)
	if c := strings.Compare(fa, fb); c != 0 {
		return c
	}
	if la != lb {
		return la - lb
	}
	return strings.Compare(a, b)
}

// splitPos splits "file.go:12:3: ..." into the file name and the line.
func splitPos(s string) (string, int) {
	file, rest, _ := strings.Cut(s, ":")
	line := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		line = line*10 + int(c-'0')
	}
	return file, line
}

// ReceiverType returns the name of a method's receiver type, without pointer
// and type parameters.
func ReceiverType(recv *ast.FieldList) string {
	if len(recv.List) == 0 {
		return ""
	}
	t := recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.ParenExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
