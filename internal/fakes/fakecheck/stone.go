package fakecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Stone is the part of a set of Dropbox Stone files the checks need: routes
// with their argument, result and error types, structs with their fields
// (inherited ones included) and subtypes, unions with their tags.
type Stone struct {
	// Routes maps "ns/name" (name as the URL has it: "copy_v2" for Stone's
	// "copy:2") to its types.
	Routes map[string]StoneRoute
	Types  map[string]*StoneType
}

// StoneRoute is a route's argument, result and error type names.
type StoneRoute struct{ Arg, Result, Error string }

// StoneType is a struct or a union. Fields maps a struct field or a union
// tag to its type name ("" for a void tag); Subtypes maps the ".tag" of an
// enumerated subtype to its struct; Extends names the parent.
type StoneType struct {
	Name     string
	Union    bool
	Extends  string
	Fields   map[string]string
	Subtypes map[string]string
	// Required names the struct fields with neither "?" nor a default.
	Required map[string]bool
}

var (
	reDef    = regexp.MustCompile(`^(struct|union|union_closed)\s+(\w+)(?:\s+extends\s+([\w.]+))?`)
	reRoute  = regexp.MustCompile(`^route\s+([\w/]+)(?::(\d+))?\s*\(\s*([\w.]+)\s*,\s*([\w.]+)\s*,\s*([\w.]+)\s*\)`)
	reField  = regexp.MustCompile(`^    (\w+)(?:\s+(?:List\()?([\w.]+))?`)
	reParams = regexp.MustCompile(`\([^()]*\)`) // String(min_length=2)
	reSub    = regexp.MustCompile(`^        (\w+)\s+([\w.]+)\s*$`)
)

// ParseStone reads every *.stone file in dir.
func ParseStone(dir string) (*Stone, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.stone"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no Stone files in %s: %v", dir, err)
	}
	st := &Stone{Routes: map[string]StoneRoute{}, Types: map[string]*StoneType{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		st.parse(string(b))
	}
	return st, nil
}

// local drops a namespace qualifier: "common.PathRoot" is "PathRoot".
func local(t string) string {
	if i := strings.LastIndex(t, "."); i >= 0 {
		return t[i+1:]
	}
	return t
}

func (st *Stone) parse(src string) {
	ns := ""
	var cur *StoneType
	inSubtypes, inExample, inDoc := false, false, false
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, " \r")
		// Doc strings span lines at any indent: skip them whole.
		quotes := strings.Count(line, `"`) - strings.Count(line, `\"`)
		if inDoc {
			inDoc = quotes%2 == 0
			continue
		}
		if t := strings.TrimSpace(line); strings.HasPrefix(t, `"`) {
			inDoc = quotes%2 == 1
			continue
		}
		if strings.HasPrefix(line, "namespace ") {
			ns = strings.TrimSpace(strings.TrimPrefix(line, "namespace "))
			continue
		}
		if line != "" && line[0] != ' ' {
			cur, inSubtypes, inExample = nil, false, false
			if m := reRoute.FindStringSubmatch(line); m != nil {
				name := m[1]
				if m[2] != "" && m[2] != "1" {
					name += "_v" + m[2]
				}
				st.Routes[ns+"/"+name] = StoneRoute{Arg: local(m[3]), Result: local(m[4]), Error: local(m[5])}
			} else if m := reDef.FindStringSubmatch(line); m != nil {
				cur = &StoneType{Name: m[2], Union: m[1] != "struct", Extends: local(m[3]),
					Fields: map[string]string{}, Subtypes: map[string]string{}, Required: map[string]bool{}}
				st.Types[m[2]] = cur
			}
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     ") {
			inSubtypes, inExample = false, false
			m := reField.FindStringSubmatch(line)
			switch {
			case m == nil:
			case m[1] == "example":
				inExample = true
			case m[1] == "union" || m[1] == "union_closed":
				inSubtypes = true
			default:
				cur.Fields[m[1]] = local(m[2])
				decl := reParams.ReplaceAllString(line, "")
				if !cur.Union && m[2] != "" && !strings.Contains(decl, "?") && !strings.Contains(decl, "=") {
					cur.Required[m[1]] = true
				}
			}
			continue
		}
		if inSubtypes && !inExample {
			if m := reSub.FindStringSubmatch(line); m != nil {
				cur.Subtypes[m[1]] = local(m[2])
			}
		}
	}
}

// Field returns the type of a struct's field or a union's tag, looking
// through the types it extends.
func (st *Stone) Field(typ, name string) (string, bool) {
	for t := st.Types[typ]; t != nil; t = st.Types[t.Extends] {
		if f, ok := t.Fields[name]; ok {
			return f, true
		}
		if t.Extends == "" {
			break
		}
	}
	return "", false
}

// Missing walks a JSON value v written as the Stone type typ and returns
// one line per required struct field it lacks (a result the fake answers
// must carry what Dropbox's always does).
func (st *Stone) Missing(typ string, v any, at string) []string {
	var bad []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			bad = append(bad, st.Missing(typ, e, at+"[]")...)
		}
	case map[string]any:
		t := st.Types[typ]
		if t == nil {
			return nil
		}
		tag, _ := v[".tag"].(string)
		if sub, ok := t.Subtypes[tag]; ok && tag != "" {
			return st.Missing(sub, v, at+"("+tag+")")
		}
		if t.Union {
			if ft, ok := st.Field(typ, tag); ok && ft != "" {
				if inner, ok := v[tag]; ok {
					return st.Missing(ft, inner, at+"."+tag)
				}
				return st.Missing(ft, v, at+"."+tag)
			}
			return nil
		}
		for tt := t; tt != nil; tt = st.Types[tt.Extends] {
			for f := range tt.Required {
				if fv, ok := v[f]; !ok {
					bad = append(bad, fmt.Sprintf("%s: %s lacks required field %q", at, typ, f))
				} else {
					bad = append(bad, st.Missing(tt.Fields[f], fv, at+"."+f)...)
				}
			}
			if tt.Extends == "" {
				break
			}
		}
	}
	return bad
}

// Check walks a JSON value v against the Stone type typ and returns one
// line per name the description does not have, naming where (at) it was.
func (st *Stone) Check(typ string, v any, at string) []string {
	var bad []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			bad = append(bad, st.Check(typ, e, at+"[]")...)
		}
	case map[string]any:
		t := st.Types[typ]
		if t == nil {
			return nil // a primitive, alias or List wrapper: nothing to walk
		}
		tag, _ := v[".tag"].(string)
		if len(t.Subtypes) > 0 && tag != "" {
			sub, ok := t.Subtypes[tag]
			if !ok {
				return []string{fmt.Sprintf("%s: %s has no subtype %q", at, typ, tag)}
			}
			return st.Check(sub, withoutTag(v), at+"("+tag+")")
		}
		if t.Union {
			ft, ok := st.Field(typ, tag)
			if !ok {
				return []string{fmt.Sprintf("%s: union %s has no tag %q", at, typ, tag)}
			}
			if inner, ok := v[tag]; ok {
				return st.Check(ft, inner, at+"."+tag)
			}
			if ft != "" && len(v) > 1 {
				return st.Check(ft, withoutTag(v), at+"."+tag) // a struct member: fields beside .tag
			}
			return nil
		}
		for k, fv := range v {
			if k == ".tag" {
				continue
			}
			ft, ok := st.Field(typ, k)
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: %s has no field %q", at, typ, k))
				continue
			}
			bad = append(bad, st.Check(ft, fv, at+"."+k)...)
		}
	case string:
		// A void union member may be written as its tag alone.
		if t := st.Types[typ]; t != nil && t.Union {
			if _, ok := st.Field(typ, v); !ok {
				bad = append(bad, fmt.Sprintf("%s: union %s has no tag %q", at, typ, v))
			}
		}
	}
	return bad
}

func withoutTag(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, f := range v {
		if k != ".tag" {
			out[k] = f
		}
	}
	return out
}
