package httpapi

import (
	"net/http"

	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
)

// WithOAuth wires the OAuth routes to flow. Without it they answer 501.
func WithOAuth(flow *oauth.Flow) Option { return func(s *Server) { s.oauth = flow } }

// authorizationURL answers generate_*_authorization_url for cloud type t
// with the URL the user should visit, as a JSON string.
func (s *Server) authorizationURL(t provider.CloudType) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.oauth == nil {
			return notImplemented("OAuth sign-in is not configured on this agent (set the " + t.String() + " client id and secret)")
		}
		var in struct {
			RedirectURL string `json:"redirectURL"`
			CloudName   string `json:"cloudName"`
			Shared      bool   `json:"shared"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		u, _, err := s.oauth.AuthorizationURL(r.Context(), principalFrom(r.Context()), t,
			oauth.AuthorizationRequest{RedirectURL: in.RedirectURL, CloudName: in.CloudName, Shared: in.Shared})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	}
}

// authorizationCallback answers *_authorization_callback: the code is
// exchanged and the new CloudAccount returned, its token stored encrypted.
func (s *Server) authorizationCallback(t provider.CloudType) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.oauth == nil {
			return notImplemented("OAuth sign-in is not configured on this agent (set the " + t.String() + " client id and secret)")
		}
		var in struct {
			Code             string `json:"code"`
			State            string `json:"state"`
			Error            string `json:"error"`
			ErrorDescription string `json:"errorDescription"`
			RedirectURL      string `json:"redirectURL"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		a, err := s.oauth.Callback(r.Context(), principalFrom(r.Context()), t, oauth.CallbackRequest{
			Code: in.Code, State: in.State, Error: in.Error, ErrorDescription: in.ErrorDescription, RedirectURL: in.RedirectURL})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, accountOut(a))
		return nil
	}
}
