package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// auth says how a route authenticates.
type auth int

const (
	authQuery    auth = iota // ?token= or Authorization: Bearer (the agent's /cloud/... family)
	authBearer               // Authorization: Bearer (the hosted /api/v1/... family)
	authOptional             // a token; or, under Options.TokenlessLocalRoutes, the signed-in user
	authNone                 // the spec's form route: as authOptional
	authPublic               // nobody needed (login, OpenAPI)
)

// route is one documented method+path pair.
type route struct {
	method, path string
	auth         auth
	summary      string
	h            func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) register() {
	s.routes = s.table()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	s.mux.HandleFunc("GET /notification", s.hub.serve)
	s.registerWeb() // the web page at / and its assets (web.go)
	// Unknown paths get the error shape too, not the mux's plain text.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
}

// wrap authenticates, runs the handler, maps its error and tells the
// caller's sockets about every non-GET call (AppNotification).
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, rt.auth)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, p)
		r = r.WithContext(ctx)
		if err := rt.h(w, r); err != nil {
			s.writeErr(w, r, err)
			return
		}
		if r.Method != http.MethodGet && p.UserID != "" {
			s.hub.appNotification(p, r)
		}
	})
}

var errNoToken = &amove.Error{Code: amove.CodeAuth, Message: "a token is required"}

func (s *Server) authenticate(r *http.Request, a auth) (amove.Principal, error) {
	var token string
	switch a {
	case authPublic:
		return amove.Principal{}, nil
	case authBearer:
		h := r.Header.Get("Authorization")
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			token = strings.TrimSpace(t)
		}
	default:
		// The agent's routes take ?token= as the spec says, or the header,
		// so a token need not sit in URLs.
		token = r.URL.Query().Get("token")
		if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && token == "" {
			token = strings.TrimSpace(t)
		}
	}
	if token != "" {
		return s.c.Authenticate(r.Context(), token)
	}
	if (a == authOptional || a == authNone) && s.tokenless {
		if p, ok := s.signedIn.get(); ok {
			return p, nil
		}
		return amove.Principal{}, &amove.Error{Code: amove.CodeAuth, Message: "no token and nobody is signed in to the agent"}
	}
	return amove.Principal{}, errNoToken
}

// decode reads a JSON body of at most maxJSONBody bytes into v. Only
// application/json is accepted: a web page cannot send that to the agent
// without a CORS preflight, which the agent never grants.
func decode(r *http.Request, v any) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return invalid("the body must be application/json")
	}
	if r.ContentLength > maxJSONBody {
		return invalid("the body is larger than 1 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return invalid("reading the body: " + err.Error())
	}
	if len(body) > maxJSONBody {
		return invalid("the body is larger than 1 MiB")
	}
	if len(body) == 0 {
		return invalid("the body is empty")
	}
	return decodeJSON(body, v)
}

// queryBool reads the boolean query parameter name the way ASP.NET Core
// binds a bool: "true" or "false" in any case, surrounding spaces ignored;
// "1" and "0" are accepted as well. Absent or empty, it is def. Anything
// else is a 499 DEFAULT, like any other invalid input. Every boolean query
// parameter goes through here.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	switch {
	case v == "":
		return def, nil
	case strings.EqualFold(v, "true") || v == "1":
		return true, nil
	case strings.EqualFold(v, "false") || v == "0":
		return false, nil
	}
	return false, invalid("query parameter " + name + " must be true or false")
}

// decodeJSON decodes one JSON value; separate from decode so fuzz targets
// reach it without HTTP.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid("field " + te.Field + " has the wrong type")
		}
		return invalid("malformed JSON")
	}
	if dec.More() {
		return invalid("trailing data after the JSON body")
	}
	return nil
}

// table lists every route: the 51 agent endpoints of spec 000, the 13 hosted
// endpoints of spec 004, and our additions.
func (s *Server) table() []route {
	return []route{
		// Cloud accounts (agent).
		{"GET", "/cloud/accounts", authQuery, "List visible cloud accounts", s.getAccounts},
		{"GET", "/cloud/account", authQuery, "Get a cloud account", s.getAccount},
		{"POST", "/cloud/insert_account", authQuery, "Insert a cloud account", s.insertAccount},
		{"PUT", "/cloud/manage_share", authQuery, "Change sharing of a cloud account", s.manageShare},
		{"DELETE", "/cloud/delete", authQuery, "Delete a cloud account", s.deleteAccount},
		// Storage operations (agent).
		{"POST", "/cloud/list_buckets", authOptional, "List buckets", s.listBuckets},
		{"POST", "/cloud/list_objects", authQuery, "List objects", s.listObjects},
		{"POST", "/cloud/generate_download_url", authQuery, "Presigned download URL", s.downloadURL},
		{"POST", "/cloud/generate_upload_url", authQuery, "Presigned upload URL", s.uploadURL},
		{"POST", "/cloud/send_download_url", authQuery, "Mail a presigned download URL", s.sendDownloadURL},
		{"POST", "/cloud/delete_object", authQuery, "Delete an object", s.deleteObject},
		{"POST", "/cloud/create_folder", authQuery, "Create a folder", s.createFolder},
		{"POST", "/cloud/upload_object", authOptional, "Upload a local file", s.uploadObject},
		{"POST", "/cloud/download_object", authOptional, "Download an object", s.downloadObject},
		{"POST", "/cloud/upload_object_from_form", authNone, "Upload a form file", s.uploadFromForm},
		// Amove-managed storage (managed.go).
		{"POST", "/cloud/add_storage", authQuery, "Provision Amove storage", s.addStorage(amove.FamilyStorj)},
		{"DELETE", "/cloud/delete_storage", authQuery, "Delete Amove storage", s.deleteStorage(amove.FamilyStorj)},
		{"POST", "/cloud/create_bucket", authQuery, "Create an Amove storage bucket", s.createBucket(amove.FamilyStorj)},
		{"DELETE", "/cloud/delete_bucket", authQuery, "Delete an Amove storage bucket", s.deleteBucket(amove.FamilyStorj)},
		{"GET", "/cloud/get_bucket_info", authQuery, "Amove storage bucket info", s.bucketInfo},
		{"GET", "/cloud/get_cloud_info", authQuery, "Amove storage account info", s.cloudInfo},
		{"POST", "/cloud/idrive_add_storage", authQuery, "Amove add storage", s.addStorage(amove.FamilyIDrive)},
		{"DELETE", "/cloud/idrive_delete_storage", authQuery, "Amove delete storage", s.deleteStorage(amove.FamilyIDrive)},
		{"POST", "/cloud/idrive_create_bucket", authQuery, "Amove create bucket", s.createBucket(amove.FamilyIDrive)},
		{"DELETE", "/cloud/idrive_delete_bucket", authQuery, "Amove delete bucket", s.deleteBucket(amove.FamilyIDrive)},
		{"GET", "/cloud/idrive_regions", authQuery, "Amove regions", s.regions},
		{"GET", "/cloud/idrive_get_daily_usage", authQuery, "Amove daily usage", s.usage(true)},
		{"GET", "/cloud/idrive_get_usage", authQuery, "Amove usage", s.usage(false)},
		// OAuth (later issue).
		{"POST", "/cloud/generate_dropbox_authorization_url", authQuery, "Dropbox authorization URL", s.authorizationURL(provider.Dropbox)},
		{"POST", "/cloud/dropbox_authorization_callback", authQuery, "Dropbox authorization callback", s.authorizationCallback(provider.Dropbox)},
		{"POST", "/cloud/generate_box_authorization_url", authQuery, "Box authorization URL", s.authorizationURL(provider.Box)},
		{"POST", "/cloud/box_authorization_callback", authQuery, "Box authorization callback", s.authorizationCallback(provider.Box)},
		{"POST", "/cloud/generate_onedrive_authorization_url", authQuery, "OneDrive authorization URL", s.authorizationURL(provider.OneDrive)},
		{"POST", "/cloud/onedrive_authorization_callback", authQuery, "OneDrive authorization callback", s.authorizationCallback(provider.OneDrive)},
		{"POST", "/cloud/generate_googledrive_authorization_url", authQuery, "Google Drive authorization URL", s.authorizationURL(provider.GoogleDrive)},
		{"POST", "/cloud/googledrive_authorization_callback", authQuery, "Google Drive authorization callback", s.authorizationCallback(provider.GoogleDrive)},
		// Fastr server-to-server and P2P transfers (fastr.go, p2p.go).
		{"POST", "/cloud/server_transfer/initiate", authQuery, "Start a server-to-server transfer", s.serverTransferInitiate},
		{"GET", "/cloud/server_transfer/{transferId}/status", authQuery, "Server transfer status", s.serverTransferStatus},
		{"DELETE", "/cloud/server_transfer/{transferId}", authQuery, "Cancel a server transfer", s.serverTransferCancel},
		{"GET", "/cloud/server_transfer/all", authQuery, "All server transfers", s.serverTransferAll},
		{"POST", "/cloud/p2p_transfer/initiate", authQuery, "Start a P2P transfer", s.p2pInitiate},
		{"GET", "/cloud/p2p_transfer/{transferId}/status", authQuery, "P2P transfer status", s.p2pStatus},
		{"POST", "/cloud/p2p_transfer/{transferId}/cancel", authQuery, "Cancel a P2P transfer", s.p2pCancel},
		{"POST", "/cloud/p2p_transfer/{transferId}/pause", authQuery, "Pause a P2P transfer", s.p2pPause},
		{"POST", "/cloud/p2p_transfer/{transferId}/resume", authQuery, "Resume a P2P transfer", s.p2pResume},
		{"GET", "/cloud/p2p_transfer/all", authQuery, "All P2P transfers", s.p2pAll},
		// Client transfers (agent).
		{"POST", "/cloud/client_transfer/{transferId}/pause", authQuery, "Pause a transfer", s.pauseTransfer},
		{"POST", "/cloud/client_transfer/{transferId}/resume", authQuery, "Resume a transfer", s.resumeTransfer},
		{"POST", "/cloud/client_transfer/{transferId}/cancel", authQuery, "Cancel a transfer", s.cancelTransfer},
		{"GET", "/cloud/client_transfer/{transferId}/status", authQuery, "Transfer status", s.transferStatus},
		{"GET", "/cloud/client_transfer/all", authQuery, "All transfers", s.allTransfers},
		// Hosted cloud-account API.
		{"GET", "/api/v1/cloudaccount/get_all", authBearer, "List visible cloud accounts", s.hostedGetAll},
		{"GET", "/api/v1/cloudaccount/get_amove_storage", authBearer, "Amove storage credentials", s.amoveStorage},
		{"POST", "/api/v1/cloudaccount/insert", authBearer, "Insert a cloud account", s.insertAccount},
		{"PUT", "/api/v1/cloudaccount/manage_share", authBearer, "Change sharing of a cloud account", s.manageShare},
		{"DELETE", "/api/v1/cloudaccount/delete", authBearer, "Delete a cloud account", s.hostedDeleteAccount},
		{"POST", "/api/v1/cloudaccount/list_buckets", authBearer, "List buckets", s.hostedListBuckets},
		{"POST", "/api/v1/cloudaccount/list_objects", authBearer, "List objects", s.hostedListObjects},
		{"POST", "/api/v1/cloudaccount/idrive_add_storage", authBearer, "Amove add storage", s.addStorage(amove.FamilyIDrive)},
		{"DELETE", "/api/v1/cloudaccount/idrive_delete_storage", authBearer, "Amove delete storage", s.deleteStorage(amove.FamilyIDrive)},
		{"POST", "/api/v1/cloudaccount/idrive_create_bucket", authBearer, "Amove create bucket", s.createBucket(amove.FamilyIDrive)},
		{"DELETE", "/api/v1/cloudaccount/idrive_delete_bucket", authBearer, "Amove delete bucket", s.deleteBucket(amove.FamilyIDrive)},
		{"GET", "/api/v1/cloudaccount/idrive_regions", authBearer, "Amove regions", s.regions},
		{"GET", "/api/v1/cloudaccount/idrive_get_daily_usage", authBearer, "Amove daily usage", s.usage(true)},
		// Ours: sign-in and the API description.
		{"POST", "/authentication/login", authPublic, "Sign in and get a token", s.login},
		{"GET", "/openapi.json", authPublic, "This API as OpenAPI 3.1", s.openAPI},
	}
}
