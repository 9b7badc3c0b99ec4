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
	"go/parser"
	"go/token"
	"os"

	"github.com/amove/amove-go/internal/tools/pubpkg"
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

// check returns one line per report in the module's public packages
// below root, sorted by file and line.
func check(root string) ([]string, error) { return pubpkg.Check(root, checkDir) }

// checkDir checks the package in dir, if there is a public one.
func checkDir(dir string) ([]string, error) {
	pkg, err := pubpkg.Load(dir, parser.ParseComments)
	if pkg == nil || err != nil {
		return nil, err
	}
	var missing []string
	hasPkgDoc := false
	for _, f := range pkg.Files {
		if f.Doc != nil {
			hasPkgDoc = true
		}
		missing = append(missing, checkFile(pkg.Fset, f)...)
	}
	if !hasPkgDoc && len(pkg.Files) > 0 {
		missing = append(missing, fmt.Sprintf("%s: package %s has no package comment", pkg.Paths[0], pkg.Name))
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
				recv := pubpkg.ReceiverType(decl.Recv)
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
