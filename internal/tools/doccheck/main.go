// Command doccheck lists every exported identifier of the module's public
// packages that has no doc comment, and exits with status 1 if it finds any.
// .ci/run runs it so that `go doc` stays complete as the code grows.
//
// Usage:
//
//	go run ./internal/tools/doccheck [module root]
//
// A public package is one whose import path has no "internal" element and
// whose name is not main; _test.go files and files excluded by build
// constraints are ignored. Checked are: a package comment in some file;
// exported functions; exported methods on exported types; exported types;
// exported methods of exported interfaces; exported constants and variables
// (a doc comment on a parenthesised group, or a trailing line comment,
// documents every name of the group or line). Exported struct fields are not
// checked: most are self-explaining option and wire fields.
package main

import (
	"fmt"
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

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	missing, err := check(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doccheck:", err)
		os.Exit(2)
	}
	for _, m := range missing {
		fmt.Println(m)
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "doccheck: %d exported identifiers without a doc comment\n", len(missing))
		os.Exit(1)
	}
}

// check walks the module below root and returns one line per undocumented
// exported identifier, sorted by file and line.
func check(root string) ([]string, error) {
	var missing []string
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
		m, err := checkDir(path)
		missing = append(missing, m...)
		return err
	})
	slices.SortFunc(missing, compareReports)
	return missing, err
}

// checkDir checks the package in dir, if there is a public one.
func checkDir(dir string) ([]string, error) {
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		if _, ok := err.(*build.NoGoError); ok {
			return nil, nil
		}
		return nil, err
	}
	if pkg.Name == "main" {
		return nil, nil
	}
	fset := token.NewFileSet()
	var missing []string
	hasPkgDoc := false
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Doc != nil {
			hasPkgDoc = true
		}
		missing = append(missing, checkFile(fset, f)...)
	}
	if !hasPkgDoc && len(pkg.GoFiles) > 0 {
		missing = append(missing, fmt.Sprintf("%s: package %s has no package comment", filepath.Join(dir, pkg.GoFiles[0]), pkg.Name))
	}
	return missing, nil
}

// checkFile reports the undocumented exported declarations of one file.
func checkFile(fset *token.FileSet, f *ast.File) []string {
	var missing []string
	report := func(pos token.Pos, what string) {
		missing = append(missing, fmt.Sprintf("%s: %s has no doc comment", fset.Position(pos), what))
	}
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			if !decl.Name.IsExported() {
				continue
			}
			name := decl.Name.Name
			if decl.Recv != nil {
				recv := receiverType(decl.Recv)
				if !ast.IsExported(recv) {
					continue
				}
				name = recv + "." + name
			}
			if decl.Doc == nil {
				report(decl.Pos(), name)
			}
		case *ast.GenDecl:
			grouped := decl.Lparen.IsValid()
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					if !spec.Name.IsExported() {
						continue
					}
					if spec.Doc == nil && (grouped || decl.Doc == nil) {
						report(spec.Pos(), "type "+spec.Name.Name)
					}
					if it, ok := spec.Type.(*ast.InterfaceType); ok {
						for _, m := range it.Methods.List {
							if len(m.Names) == 0 || !m.Names[0].IsExported() {
								continue // embedded interface or unexported method
							}
							if m.Doc == nil && m.Comment == nil {
								report(m.Pos(), spec.Name.Name+"."+m.Names[0].Name)
							}
						}
					}
				case *ast.ValueSpec:
					exported := ""
					for _, n := range spec.Names {
						if n.IsExported() {
							exported = n.Name
							break
						}
					}
					if exported == "" {
						continue
					}
					if spec.Doc == nil && spec.Comment == nil && decl.Doc == nil {
						report(spec.Pos(), decl.Tok.String()+" "+exported)
					}
				}
			}
		}
	}
	return missing
}

// receiverType returns the name of a method's receiver type, without pointer
// and type parameters.
func receiverType(recv *ast.FieldList) string {
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

// compareReports orders report lines by file name, then numerically by line.
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
