package fakecheck

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Discovery is the part of a Google API discovery document the checks
// need: each method's paths (REST and media upload), HTTP method,
// parameter names and the property names of its request and response
// schemas.
type Discovery struct {
	methods []discMethod
	schemas map[string]map[string]bool
	global  map[string]bool
}

type discMethod struct {
	name, http string
	paths      []*regexp.Regexp
	params     map[string]bool
	request    string
	response   string
}

type discResource struct {
	Methods map[string]struct {
		HTTPMethod  string                     `json:"httpMethod"`
		Path        string                     `json:"path"`
		Parameters  map[string]json.RawMessage `json:"parameters"`
		Request     struct{ Ref string }       `json:"request"`
		Response    struct{ Ref string }       `json:"response"`
		MediaUpload struct {
			Protocols map[string]struct {
				Path string `json:"path"`
			} `json:"protocols"`
		} `json:"mediaUpload"`
	} `json:"methods"`
	Resources map[string]discResource `json:"resources"`
}

// ParseDiscovery reads a discovery document.
func ParseDiscovery(file string) (*Discovery, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		ServicePath string                     `json:"servicePath"`
		Parameters  map[string]json.RawMessage `json:"parameters"`
		Schemas     map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
		Resources map[string]discResource `json:"resources"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	d := &Discovery{schemas: map[string]map[string]bool{}, global: map[string]bool{}}
	for k := range doc.Parameters {
		d.global[k] = true
	}
	for name, s := range doc.Schemas {
		props := map[string]bool{}
		for k := range s.Properties {
			props[k] = true
		}
		d.schemas[name] = props
	}
	tmpl := func(p string) *regexp.Regexp {
		const param = "\x00"
		p = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p, param)
		return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), param, `[^/]+`) + "$")
	}
	var walk func(prefix string, r discResource)
	walk = func(prefix string, r discResource) {
		for name, m := range r.Methods {
			dm := discMethod{name: prefix + name, http: m.HTTPMethod, params: map[string]bool{},
				request: m.Request.Ref, response: m.Response.Ref}
			dm.paths = append(dm.paths, tmpl("/"+doc.ServicePath+m.Path))
			for _, p := range m.MediaUpload.Protocols {
				dm.paths = append(dm.paths, tmpl(p.Path))
			}
			for k := range m.Parameters {
				dm.params[k] = true
			}
			d.methods = append(d.methods, dm)
		}
		for name, sub := range r.Resources {
			walk(prefix+name+".", sub)
		}
	}
	for name, r := range doc.Resources {
		walk(name+".", r)
	}
	return d, nil
}

// Check returns one line per disagreement between an exchange and the
// document: no method for its path and HTTP method, a query parameter the
// method does not take, a top-level field of its JSON argument or answer
// that the request or response schema lacks, or an error body that is not
// Google's {"error": {code, message, errors, status}}.
func (d *Discovery) Check(x Exchange) []string {
	var m *discMethod
	for i := range d.methods {
		if d.methods[i].http == x.Method && slices.ContainsFunc(d.methods[i].paths, func(re *regexp.Regexp) bool {
			return re.MatchString(x.Path)
		}) {
			if m == nil || strings.Count(d.methods[i].paths[0].String(), "[^/]+") < strings.Count(m.paths[0].String(), "[^/]+") {
				m = &d.methods[i]
			}
		}
	}
	if m == nil {
		return []string{fmt.Sprintf("%s %s: no method in the discovery document", x.Method, x.Path)}
	}
	var bad []string
	for _, q := range x.Query {
		if !m.params[q] && !d.global[q] {
			bad = append(bad, fmt.Sprintf("%s (%s): no parameter %q", m.name, x.Path, q))
		}
	}
	if arg, ok := x.Arg.(map[string]any); ok && m.request != "" {
		for k := range arg {
			if !d.schemas[m.request][k] {
				bad = append(bad, fmt.Sprintf("%s: request field %q is not in %s", m.name, k, m.request))
			}
		}
	}
	res, ok := x.Result.(map[string]any)
	switch {
	case !ok:
	case x.Status >= 400:
		e, ok := res["error"].(map[string]any)
		if !ok || len(res) != 1 {
			bad = append(bad, fmt.Sprintf("%s: error body %v is not {\"error\": {...}}", m.name, res))
		}
		for k := range e {
			if !slices.Contains([]string{"code", "message", "errors", "status", "details"}, k) {
				bad = append(bad, fmt.Sprintf("%s: error has field %q", m.name, k))
			}
		}
	case m.response != "":
		for k := range res {
			if !d.schemas[m.response][k] {
				bad = append(bad, fmt.Sprintf("%s: response field %q is not in %s", m.name, k, m.response))
			}
		}
	}
	return bad
}
