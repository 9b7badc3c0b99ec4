package fakecheck

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// OpenAPI is the part of an OpenAPI 3 document the checks need: each
// operation's path pattern, method, query parameter names and the property
// names of its JSON responses.
type OpenAPI struct {
	ops     []apiOp
	schemas map[string]json.RawMessage
}

type apiOp struct {
	path   string
	re     *regexp.Regexp
	method string
	query  map[string]bool
	// responses maps a status ("200", "default") to the schema's property
	// names; nil when the schema names none.
	responses map[string]map[string]bool
}

// ParseOpenAPI reads an OpenAPI 3 JSON document.
func ParseOpenAPI(file string) (*OpenAPI, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	api := &OpenAPI{schemas: doc.Components.Schemas}
	for p, item := range doc.Paths {
		const param = "\x00"
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(
			regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p, param)), param, `[^/]+`) + "$")
		for method, raw := range item {
			var op struct {
				Parameters []struct {
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
				Responses map[string]struct {
					Content map[string]struct {
						Schema json.RawMessage `json:"schema"`
					} `json:"content"`
				} `json:"responses"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue // "parameters" or "servers" at path level
			}
			o := apiOp{path: p, re: re, method: strings.ToUpper(method), query: map[string]bool{},
				responses: map[string]map[string]bool{}}
			for _, prm := range op.Parameters {
				if prm.In == "query" {
					o.query[prm.Name] = true
				}
			}
			for status, r := range op.Responses {
				if c, ok := r.Content["application/json"]; ok {
					o.responses[status] = api.properties(c.Schema, 0)
				}
			}
			api.ops = append(api.ops, o)
		}
	}
	return api, nil
}

// properties collects the property names of a schema, through $ref, allOf,
// oneOf and anyOf; nil when it names none.
func (api *OpenAPI) properties(raw json.RawMessage, depth int) map[string]bool {
	if depth > 10 || len(raw) == 0 {
		return nil
	}
	var s struct {
		Ref        string                     `json:"$ref"`
		Properties map[string]json.RawMessage `json:"properties"`
		AllOf      []json.RawMessage          `json:"allOf"`
		OneOf      []json.RawMessage          `json:"oneOf"`
		AnyOf      []json.RawMessage          `json:"anyOf"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	if s.Ref != "" {
		return api.properties(api.schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")], depth+1)
	}
	var out map[string]bool
	add := func(m map[string]bool) {
		for k := range m {
			if out == nil {
				out = map[string]bool{}
			}
			out[k] = true
		}
	}
	for k := range s.Properties {
		add(map[string]bool{k: true})
	}
	for _, list := range [][]json.RawMessage{s.AllOf, s.OneOf, s.AnyOf} {
		for _, sub := range list {
			add(api.properties(sub, depth+1))
		}
	}
	return out
}

// Check returns one line per disagreement between an exchange (its path
// with the server prefix removed) and the document: an unknown path or
// method, a query parameter the operation does not take, a top-level
// field of a JSON answer its response schema does not have.
func (api *OpenAPI) Check(x Exchange, path string) []string {
	var matched []apiOp
	for _, o := range api.ops {
		if o.re.MatchString(path) {
			matched = append(matched, o)
		}
	}
	if len(matched) == 0 {
		return []string{fmt.Sprintf("%s %s: no such path", x.Method, path)}
	}
	var op *apiOp
	for i := range matched {
		// A literal path ("/files/content") wins over a template
		// ("/files/{file_id}") that also matches.
		if matched[i].method == x.Method && (op == nil || strings.Count(matched[i].path, "{") < strings.Count(op.path, "{")) {
			op = &matched[i]
		}
	}
	if op == nil {
		return []string{fmt.Sprintf("%s %s: the path has no %s operation", x.Method, path, x.Method)}
	}
	var bad []string
	for _, q := range x.Query {
		if !op.query[q] {
			bad = append(bad, fmt.Sprintf("%s %s: no query parameter %q", x.Method, op.path, q))
		}
	}
	body, ok := x.Result.(map[string]any)
	if !ok {
		return bad
	}
	props, known := op.responses[fmt.Sprint(x.Status)]
	if !known {
		props, known = op.responses["default"]
	}
	if !known || props == nil {
		return bad
	}
	for k := range body {
		if !props[k] {
			bad = append(bad, fmt.Sprintf("%s %s: %d answer has field %q, not in its schema", x.Method, op.path, x.Status, k))
		}
	}
	return bad
}
