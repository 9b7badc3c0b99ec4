package httpapi

import (
	"net/http"
	"regexp"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// openAPIDoc builds the OpenAPI 3.1 description from the route table, so the
// document and the routes cannot drift apart.
func (s *Server) openAPIDoc() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes {
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "").Replace(rt.path),
			"responses": map[string]any{
				"200": map[string]any{"description": "success"},
				"401": map[string]any{"description": "missing or invalid token", "content": problemContent},
				"499": map[string]any{"description": "application error (see docs/errors.md)", "content": problemContent},
				"500": map[string]any{"description": "internal error, empty body"},
			},
		}
		switch rt.auth {
		case authQuery, authOptional, authNone:
			// Either one: the agent's routes take the token in the query or
			// the header (tokenless mode aside, docs/security.md).
			op["security"] = []any{map[string]any{"queryToken": []any{}}, map[string]any{"bearer": []any{}}}
		case authBearer:
			op["security"] = []any{map[string]any{"bearer": []any{}}}
		default:
			op["security"] = []any{}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "amove-go agent",
			"version": "1",
			"description": "The Amove Click agent API (/cloud/...), the hosted cloud-account API (/api/v1/cloudaccount/...) " +
				"and the /notification WebSocket (not listed: OpenAPI has no WebSocket operations).",
		},
		"servers": []any{map[string]any{"url": "http://127.0.0.1:29123"}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"queryToken": map[string]any{"type": "apiKey", "in": "query", "name": "token"},
				"bearer":     map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
			"schemas": map[string]any{
				"Problem": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"type":   map[string]any{"type": "string"},
						"status": map[string]any{"type": "integer"},
						"errors": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}},
					},
				},
			},
		},
	}
}

var problemContent = map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.openAPIDoc())
	return nil
}
