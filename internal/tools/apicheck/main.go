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
	"go/token"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/amove/amove-go/internal/tools/pubpkg"
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

// check returns one line per report in the module's public packages
// below root, sorted by file and line.
func check(root string) ([]string, error) { return pubpkg.Check(root, checkDir) }

// checkDir checks the package in dir, if there is a public one.
func checkDir(dir string) ([]string, error) {
	pkg, err := pubpkg.Load(dir, 0)
	if pkg == nil || err != nil {
		return nil, err
	}
	var found []string
	for _, f := range pkg.Files {
		found = append(found, checkFile(pkg.Fset, f)...)
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
				recv := pubpkg.ReceiverType(decl.Recv)
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
