// Command apicheck lists every place where the exported API of the module's
// public packages names a type from an internal package, and exits with
// status 1 if it finds any. Such a type cannot be named by a program outside
// the module: `go doc` shows an identifier the reader cannot import, and a
// caller cannot declare a variable of it. .ci/run runs it beside doccheck.
//
// Usage:
//
//	go run ./internal/tools/apicheck [module root]
//
// A public package is one whose import path has no "internal" element and
// whose name is not main (so cmd/ and examples/ are skipped); _test.go files
// and files excluded by build constraints are ignored. Checked are the type
// expressions of: exported functions, and exported methods of exported
// types (type parameters, parameters, results); exported type declarations,
// aliases included (for a struct, its exported and embedded fields; for an
// interface, its exported methods and embedded types); exported constants
// and variables declared with a type. A type is internal when it is
// selected from an import whose path has an "internal" element. The check
// reads syntax only: a type reached through an alias is reported once, at
// the alias.
package main

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	found, err := check(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(2)
	}
	for _, f := range found {
		fmt.Println(f)
	}
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "apicheck: %d exported declarations name an internal type\n", len(found))
		os.Exit(1)
	}
}

// check walks the module below root and returns one line per exported
// declaration that names an internal type, sorted by file and line.
func check(root string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != root && (name == "internal" || name == "testdata" || name == "vendor" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if p != root {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module is not part of this one
			}
		}
		f, err := checkDir(p)
		found = append(found, f...)
		return err
	})
	slices.SortFunc(found, func(a, b string) int {
		fa, la := splitPos(a)
		fb, lb := splitPos(b)
		if c := strings.Compare(fa, fb); c != 0 {
			return c
		}
		if la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	return found, err
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
	var found []string
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		found = append(found, checkFile(fset, f)...)
	}
	return found, nil
}

// isInternal reports whether an import path has an "internal" element.
func isInternal(importPath string) bool {
	return slices.Contains(strings.Split(importPath, "/"), "internal")
}

// checkFile reports the exported declarations of f that name a type of an
// internal package.
func checkFile(fset *token.FileSet, f *ast.File) []string {
	internal := map[string]string{} // local import name -> path
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil || !isInternal(p) {
			continue
		}
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name == "_" || name == "." {
			continue // a dot import cannot be told apart from local names
		}
		internal[name] = p
	}
	if len(internal) == 0 {
		return nil
	}
	var found []string
	// walk reports every internal type that expr names, in the declaration
	// what.
	walk := func(what string, expr ast.Node) {
		if expr == nil {
			return
		}
		ast.Inspect(expr, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok {
				if p, ok := internal[id.Name]; ok {
					found = append(found, fmt.Sprintf("%s: %s names %s.%s (%s)",
						fset.Position(sel.Pos()), what, id.Name, sel.Sel.Name, p))
				}
			}
			return false
		})
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
			walk("func "+name, decl.Type)
		case *ast.GenDecl:
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					if !spec.Name.IsExported() {
						continue
					}
					what := "type " + spec.Name.Name
					if spec.TypeParams != nil {
						walk(what, spec.TypeParams)
					}
					switch t := spec.Type.(type) {
					case *ast.StructType:
						for _, field := range t.Fields.List {
							if exportedField(field) {
								walk(what+" field", field.Type)
							}
						}
					case *ast.InterfaceType:
						for _, m := range t.Methods.List {
							if len(m.Names) == 0 || m.Names[0].IsExported() {
								walk(what+" method", m.Type)
							}
						}
					default:
						walk(what, spec.Type)
					}
				case *ast.ValueSpec:
					if spec.Type == nil || !slices.ContainsFunc(spec.Names, (*ast.Ident).IsExported) {
						continue
					}
					walk(decl.Tok.String()+" "+spec.Names[0].Name, spec.Type)
				}
			}
		}
	}
	return found
}

// exportedField reports whether a struct field is part of the API: it has
// an exported name, or it is embedded (its methods and fields are promoted).
func exportedField(f *ast.Field) bool {
	if len(f.Names) == 0 {
		return true
	}
	return slices.ContainsFunc(f.Names, (*ast.Ident).IsExported)
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
