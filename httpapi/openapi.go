package httpapi

import (
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The OpenAPI document is built from two sources that tests keep in step:
// the route table (routes.go), the only list of routes, and operations
// below, which says for each route what it takes and what it answers. The
// bodies' schemas are made from the wire types by reflection, so a field
// added to a wire type is in the document at once. TestOpenAPIComplete
// requires an operation for every route, and the end-to-end tests check
// every request they send and every answer they get against the document
// the server serves (openapi_check_test.go).

// jsonSchema is a schema written out by hand, for bodies that have no Go
// wire type in this package.
type jsonSchema map[string]any

// param is a query parameter.
type param struct {
	name     string
	schema   jsonSchema
	required bool
	doc      string
}

// operation describes one route beyond its method, path and auth.
type operation struct {
	query []param
	// body is the JSON request body: a value of its wire type, or a
	// jsonSchema; nil when the route takes none.
	body any
	// form is the multipart/form-data request body's schema.
	form jsonSchema
	// ok is the success status (200 when zero); resp is its body, as for
	// body, or nil for an empty answer.
	ok   int
	resp any
	// errs are the statuses the route can answer besides the ones every
	// route can (401, 403, 499, 500; docs/errors.md).
	errs []int
}

var (
	str        = jsonSchema{"type": "string"}
	integer    = jsonSchema{"type": "integer"}
	number     = jsonSchema{"type": "number"}
	tierSchema = jsonSchema{"type": "integer", "enum": []any{0, 1, 2, 4, 8, 16}, "default": 0}
	// boolQuery is a boolean query parameter as queryBool reads it.
	boolQuery = jsonSchema{"type": "string", "pattern": `^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)?\s*$`,
		"description": "true or false in any case, or 1 or 0; absent or empty means the default"}
)

// anyObject is the schema of the OpenAPI document itself.
var anyObject = jsonSchema{"type": "object"}

func q(name string, s jsonSchema, required bool, doc string) param {
	return param{name: name, schema: s, required: required, doc: doc}
}

var (
	qID         = q("id", str, true, "Cloud account id.")
	qBucketName = q("bucketName", str, true, "Bucket name.")
	qAccountID  = q("cloudAccountId", str, true, "Amove storage cloud account id.")
	qTier       = q("storageTier", tierSchema, false, "StorageTier: 0 All, 1 Perform, 2 Global, 4 Scale, 8 Archive, 16 AmoveConnection.")
)

// transferErrs are a transfer id route's extra answers: 400 for a state
// that does not allow the operation, 404 for an unknown id.
var transferErrs = []int{http.StatusBadRequest, http.StatusNotFound}

// operations is keyed by "METHOD path", as the route table spells them.
var operations = map[string]operation{
	"GET /cloud/accounts":        {resp: []cloudAccount{}},
	"GET /cloud/account":         {query: []param{qID}, resp: cloudAccount{}},
	"POST /cloud/insert_account": {body: cloudAccount{}, resp: cloudAccount{}},
	"PUT /cloud/manage_share":    {body: shareRequest{}},
	"DELETE /cloud/delete":       {query: []param{qID}, resp: true},

	"POST /cloud/list_buckets": {query: []param{q("includeRegion", boolQuery, false, "When true, each bucket's region is resolved.")},
		body: cloudAccount{}, resp: bucketList{}},
	"POST /cloud/list_objects":          {body: listObjectsRequest{}, resp: objectList{}},
	"POST /cloud/generate_download_url": {body: objectRequest{}, resp: ""},
	"POST /cloud/generate_upload_url":   {body: objectRequest{}, resp: ""},
	"POST /cloud/send_download_url":     {body: objectRequest{}, errs: []int{http.StatusUnauthorized, http.StatusTooManyRequests}},
	"POST /cloud/delete_object":         {body: objectRequest{}},
	"POST /cloud/create_folder":         {body: createFolderRequest{}},
	"POST /cloud/upload_object":         {body: uploadRequest{}, resp: transferID{}},
	"POST /cloud/download_object":       {body: downloadRequest{}, resp: transferID{}},
	"POST /cloud/upload_object_from_form": {form: jsonSchema{"type": "object", "required": []any{"file"}, "properties": map[string]any{
		"cloudAccountJson": jsonSchema{"type": "string", "description": "JSON-serialized CloudAccount."},
		"storageName":      str, "uploadPath": str, "id": str,
		"file": jsonSchema{"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"},
	}}, resp: transferID{},
		errs: []int{http.StatusBadRequest, http.StatusRequestTimeout, http.StatusServiceUnavailable}},

	"POST /cloud/add_storage":                           {body: addStorageIn{}, resp: cloudAccount{}, errs: managedErrs},
	"DELETE /cloud/delete_storage":                      {query: []param{qID}, resp: true, errs: managedErrs},
	"POST /cloud/create_bucket":                         {query: []param{q("bucketName", str, true, "Bucket to create.")}, errs: managedErrs},
	"DELETE /cloud/delete_bucket":                       {query: []param{q("bucketName", str, true, "Bucket to delete.")}, errs: managedErrs},
	"GET /cloud/get_bucket_info":                        {query: []param{qBucketName}, resp: bucketInfoOut{}, errs: managedErrs},
	"GET /cloud/get_cloud_info":                         {resp: cloudInfoOut{}, errs: managedErrs},
	"POST /cloud/idrive_add_storage":                    {body: addStorageIn{}, resp: cloudAccount{}, errs: managedErrs},
	"DELETE /cloud/idrive_delete_storage":               {query: []param{qID}, resp: true, errs: managedErrs},
	"POST /cloud/idrive_create_bucket":                  {query: []param{qAccountID, q("bucketName", str, true, "Bucket to create.")}, errs: managedErrs},
	"DELETE /cloud/idrive_delete_bucket":                {query: []param{qAccountID, q("bucketName", str, true, "Bucket to delete.")}, errs: managedErrs},
	"GET /cloud/idrive_regions":                         {resp: []regionOut{}, errs: managedErrs},
	"GET /cloud/idrive_get_daily_usage":                 {query: []param{qTier}, resp: number, errs: managedErrs},
	"GET /cloud/idrive_get_usage":                       {query: []param{qTier}, resp: number, errs: managedErrs},
	"GET /api/v1/cloudaccount/get_amove_storage":        {resp: []amoveStorageOut{}, errs: managedErrs},
	"POST /api/v1/cloudaccount/idrive_add_storage":      {body: addStorageIn{}, resp: cloudAccount{}, errs: managedErrs},
	"DELETE /api/v1/cloudaccount/idrive_delete_storage": {query: []param{qID}, resp: true, errs: managedErrs},
	"POST /api/v1/cloudaccount/idrive_create_bucket":    {query: []param{qAccountID, qBucketName}, errs: managedErrs},
	"DELETE /api/v1/cloudaccount/idrive_delete_bucket":  {query: []param{qAccountID, qBucketName}, errs: managedErrs},
	"GET /api/v1/cloudaccount/idrive_regions":           {resp: []regionOut{}, errs: managedErrs},
	"GET /api/v1/cloudaccount/idrive_get_daily_usage":   {query: []param{qTier}, resp: number, errs: managedErrs},

	"POST /cloud/generate_dropbox_authorization_url":     oauthURL,
	"POST /cloud/dropbox_authorization_callback":         oauthCallback,
	"POST /cloud/generate_box_authorization_url":         oauthURL,
	"POST /cloud/box_authorization_callback":             oauthCallback,
	"POST /cloud/generate_onedrive_authorization_url":    oauthURL,
	"POST /cloud/onedrive_authorization_callback":        oauthCallback,
	"POST /cloud/generate_googledrive_authorization_url": oauthURL,
	"POST /cloud/googledrive_authorization_callback":     oauthCallback,

	"POST /cloud/server_transfer/initiate": {body: serverTransferRequest{}, ok: http.StatusAccepted, resp: transferStarted{},
		errs: []int{http.StatusBadRequest}},
	"GET /cloud/server_transfer/{transferId}/status": {resp: serverTransferStatus{}, errs: []int{http.StatusNotFound}},
	"DELETE /cloud/server_transfer/{transferId}":     {resp: controlResult{}, errs: transferErrs},
	"GET /cloud/server_transfer/all":                 {resp: []serverTransferStatus{}},
	"POST /cloud/p2p_transfer/initiate":              {body: p2pRequest{}, resp: transferStarted{}, errs: []int{http.StatusBadRequest}},
	"GET /cloud/p2p_transfer/{transferId}/status":    {resp: p2pStatus{}, errs: []int{http.StatusNotFound}},
	"POST /cloud/p2p_transfer/{transferId}/cancel":   {resp: controlResult{}, errs: transferErrs},
	"POST /cloud/p2p_transfer/{transferId}/pause":    {resp: controlResult{}, errs: transferErrs},
	"POST /cloud/p2p_transfer/{transferId}/resume":   {resp: controlResult{}, errs: transferErrs},
	"GET /cloud/p2p_transfer/all":                    {resp: []p2pStatus{}},

	"POST /cloud/client_transfer/{transferId}/pause":  {errs: transferErrs},
	"POST /cloud/client_transfer/{transferId}/resume": {errs: transferErrs},
	"POST /cloud/client_transfer/{transferId}/cancel": {errs: transferErrs},
	"GET /cloud/client_transfer/{transferId}/status":  {resp: transferStatus{}, errs: []int{http.StatusNotFound}},
	"GET /cloud/client_transfer/all":                  {resp: []transferStatus{}},

	"GET /api/v1/cloudaccount/get_all":       {resp: collection[cloudAccount]{}},
	"POST /api/v1/cloudaccount/insert":       {body: cloudAccount{}, resp: cloudAccount{}},
	"PUT /api/v1/cloudaccount/manage_share":  {body: shareRequest{}},
	"DELETE /api/v1/cloudaccount/delete":     {query: []param{q("id", str, true, "The id of the cloud account to delete.")}, resp: true},
	"POST /api/v1/cloudaccount/list_buckets": {body: hostedBucketsRequest{}, resp: bucketList{}},
	"POST /api/v1/cloudaccount/list_objects": {body: listRequest{}, resp: objectList{}},
	"POST /authentication/login":             {body: loginRequest{}, resp: loginResponse{}, errs: []int{http.StatusUnauthorized, http.StatusTooManyRequests}},
	"GET /openapi.json":                      {resp: anyObject},
}

// managedErrs: Amove-managed storage answers 501 for a family with no
// backend configured (docs/managed-storage.md).
var managedErrs = []int{http.StatusNotImplemented}

// The OAuth routes answer 501 for a provider whose app is not configured.
var (
	oauthURL      = operation{body: authURLRequest{}, resp: "", errs: []int{http.StatusNotImplemented}}
	oauthCallback = operation{body: authCallbackRequest{}, resp: cloudAccount{}, errs: []int{http.StatusNotImplemented}}
)

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// openAPIDoc builds the OpenAPI 3.1 description from the route table and
// operations.
func (s *Server) openAPIDoc() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = operationDoc(rt, operations[rt.method+" "+rt.path])
	}
	paths["/notification"] = map[string]any{"get": notificationDoc()}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "amove-go agent",
			"version": "1",
			"description": "The Amove Click agent API (/cloud/...), the hosted cloud-account API (/api/v1/cloudaccount/...) " +
				"and the /notification WebSocket's upgrade. Errors: docs/errors.md.",
		},
		"servers": []any{map[string]any{"url": "http://127.0.0.1:29123"}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"queryToken": map[string]any{"type": "apiKey", "in": "query", "name": "token"},
				"bearer":     map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
			"schemas": map[string]any{"Problem": schemaOf(reflect.TypeFor[problem](), true)},
		},
	}
}

// statusText describes the answers every route can give, and the others.
var statusText = map[int]string{
	http.StatusBadRequest:          "the transfer's state does not allow the operation, or a required field is missing (as the spec says for this route)",
	http.StatusUnauthorized:        "missing or invalid token",
	http.StatusForbidden:           "a Host that is not loopback, or a write from a foreign Origin (SECURITY)",
	http.StatusNotFound:            "unknown transfer id",
	http.StatusRequestTimeout:      "the upload sent nothing for the stall timeout",
	http.StatusTooManyRequests:     "too many attempts; Retry-After says when to try again",
	StatusValidation:               "application error: validation, not found, access, duplicate, provider errors (docs/errors.md)",
	http.StatusInternalServerError: "internal error, empty body",
	http.StatusNotImplemented:      "not implemented or not configured in this agent",
	http.StatusServiceUnavailable:  "the agent's staging folder is not private to it",
}

var problemContent = map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}

func errorResponse(status int) map[string]any {
	if status == http.StatusInternalServerError {
		return map[string]any{"description": statusText[status]}
	}
	r := map[string]any{"description": statusText[status], "content": problemContent,
		"headers": map[string]any{"error-code": map[string]any{"description": "the application code, as the body's type", "schema": str}}}
	if status == http.StatusTooManyRequests {
		r["headers"].(map[string]any)["Retry-After"] = map[string]any{"description": "seconds to wait", "schema": integer}
	}
	return r
}

func operationDoc(rt route, o operation) map[string]any {
	ok := o.ok
	if ok == 0 {
		ok = http.StatusOK
	}
	success := map[string]any{"description": "success"}
	if o.resp != nil {
		success["content"] = map[string]any{"application/json": map[string]any{"schema": schemaFor(o.resp, true)}}
	}
	responses := map[string]any{strconv.Itoa(ok): success}
	codes := append([]int{http.StatusForbidden, StatusValidation, http.StatusInternalServerError}, o.errs...)
	if rt.auth != authPublic {
		codes = append(codes, http.StatusUnauthorized)
	}
	for _, c := range codes {
		responses[strconv.Itoa(c)] = errorResponse(c)
	}
	doc := map[string]any{
		"summary":     rt.summary,
		"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "").Replace(rt.path),
		"responses":   responses,
	}
	switch rt.auth {
	case authQuery:
		// The agent's routes take ?token= as the spec says, or the header.
		doc["security"] = []any{map[string]any{"queryToken": []any{}}, map[string]any{"bearer": []any{}}}
	case authOptional, authNone:
		// No token: the agent's signed-in user, under
		// Options.TokenlessLocalRoutes (docs/security.md).
		doc["security"] = []any{map[string]any{"queryToken": []any{}}, map[string]any{"bearer": []any{}}, map[string]any{}}
	case authBearer:
		doc["security"] = []any{map[string]any{"bearer": []any{}}}
	default:
		doc["security"] = []any{}
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": str})
	}
	for _, p := range o.query {
		params = append(params, map[string]any{"name": p.name, "in": "query", "required": p.required, "schema": p.schema, "description": p.doc})
	}
	if params != nil {
		doc["parameters"] = params
	}
	switch {
	case o.body != nil:
		doc["requestBody"] = map[string]any{"required": true,
			"content": map[string]any{"application/json": map[string]any{"schema": schemaFor(o.body, false)}}}
	case o.form != nil:
		doc["requestBody"] = map[string]any{"required": true,
			"content": map[string]any{"multipart/form-data": map[string]any{"schema": o.form}}}
	}
	return doc
}

// notificationDoc is the WebSocket's upgrade: OpenAPI has no WebSocket
// operations, but the HTTP answers before the upgrade are documented.
func notificationDoc() map[string]any {
	responses := map[string]any{"101": map[string]any{"description": "switching to the WebSocket; messages are {\"Type\":n,\"Data\":{...}} (docs/notifications.md)"}}
	for _, c := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		responses[strconv.Itoa(c)] = errorResponse(c)
	}
	return map[string]any{
		"summary":     "Notifications WebSocket",
		"operationId": "get_notification",
		"security":    []any{map[string]any{"queryToken": []any{}}, map[string]any{"bearer": []any{}}},
		"responses":   responses,
	}
}

// schemaFor is v's schema: v itself when it is a jsonSchema, else its type's.
func schemaFor(v any, response bool) jsonSchema {
	if s, ok := v.(jsonSchema); ok {
		return s
	}
	return schemaOf(reflect.TypeOf(v), response)
}

var timeType = reflect.TypeFor[time.Time]()

// schemaOf is the JSON Schema of what encoding/json makes of t. A response
// schema lists every field not marked omitempty as required and allows no
// other, so an answer that loses or gains a field fails validation. A
// request schema requires only the fields tagged openapi:"required" (the
// ones the handler insists on) and allows others, as the decoder ignores
// them. A tag enum:"a,b" lists a field's values.
func schemaOf(t reflect.Type, response bool) jsonSchema {
	if t.Kind() == reflect.Pointer {
		s := schemaOf(t.Elem(), response)
		return nullable(s)
	}
	switch {
	case t == timeType || t == reflect.TypeFor[wireTime]():
		return jsonSchema{"type": "string", "format": "date-time"}
	case t == reflect.TypeFor[dotnetTime]():
		return jsonSchema{"type": "string", "description": "RFC 3339, or 0001-01-01T00:00:00 when unset"}
	}
	switch t.Kind() {
	case reflect.String:
		return jsonSchema{"type": "string"}
	case reflect.Bool:
		return jsonSchema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return jsonSchema{"type": "integer"}
	case reflect.Int64, reflect.Uint64:
		return jsonSchema{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return jsonSchema{"type": "number"}
	case reflect.Slice, reflect.Array:
		return jsonSchema{"type": "array", "items": schemaOf(t.Elem(), response)}
	case reflect.Map:
		return jsonSchema{"type": "object", "additionalProperties": schemaOf(t.Elem(), response)}
	case reflect.Interface:
		return jsonSchema{}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s := schemaOf(f.Type, response)
			if e := f.Tag.Get("enum"); e != "" {
				s = withEnum(s, e)
			}
			props[name] = s
			omit := slices.Contains(strings.Split(opts, ","), "omitempty")
			if (response && !omit) || (!response && f.Tag.Get("openapi") == "required") {
				required = append(required, name)
			}
		}
		s := jsonSchema{"type": "object", "properties": props}
		if required != nil {
			sort.Strings(required)
			s["required"] = required
		}
		if response {
			s["additionalProperties"] = false
		}
		return s
	}
	panic("httpapi: no JSON schema for " + t.String())
}

// nullable lets s be null as well.
func nullable(s jsonSchema) jsonSchema {
	out := jsonSchema{}
	for k, v := range s {
		out[k] = v
	}
	if typ, ok := s["type"].(string); ok {
		out["type"] = []any{typ, "null"}
	}
	if e, ok := s["enum"].([]any); ok {
		out["enum"] = append(slices.Clone(e), nil)
	}
	return out
}

// withEnum adds the values of an enum tag to s, as s's type.
func withEnum(s jsonSchema, tag string) jsonSchema {
	var vals []any
	for _, v := range strings.Split(tag, ",") {
		if s["type"] == "integer" {
			n, err := strconv.Atoi(v)
			if err != nil {
				panic("httpapi: enum tag " + tag + " on an integer")
			}
			vals = append(vals, n)
		} else {
			vals = append(vals, v)
		}
	}
	out := jsonSchema{}
	for k, v := range s {
		out[k] = v
	}
	out["enum"] = vals
	return out
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.openAPIDoc())
	return nil
}
