package httpapi

import (
	"errors"
	"net/http"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// The OAuth routes run the Client's authorization flow
// (amove.Options.OAuth); a cloud type without an OAuth app configured
// answers 501.

// oauthErr turns the Client's "not configured" into 501.
func oauthErr(t provider.CloudType, err error) error {
	if errors.Is(err, amove.ErrOAuthNotConfigured) {
		return notImplemented("OAuth sign-in is not configured on this agent (set the " + t.String() + " client id and secret)")
	}
	return err
}

// authorizationURL answers generate_*_authorization_url for cloud type t
// with the URL the user should visit, as a JSON string.
func (s *Server) authorizationURL(t provider.CloudType) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in authURLRequest
		if err := decode(r, &in); err != nil {
			return err
		}
		u, _, err := s.c.AuthorizationURL(r.Context(), principalFrom(r.Context()), t,
			amove.AuthorizationRequest{RedirectURL: in.RedirectURL, CloudName: in.CloudName, Shared: in.Shared})
		if err != nil {
			return oauthErr(t, err)
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	}
}

// authorizationCallback answers *_authorization_callback: the code is
// exchanged and the new CloudAccount returned, its token stored encrypted.
func (s *Server) authorizationCallback(t provider.CloudType) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in authCallbackRequest
		if err := decode(r, &in); err != nil {
			return err
		}
		a, err := s.c.CompleteAuthorization(r.Context(), principalFrom(r.Context()), t, amove.AuthorizationCallback{
			Code: in.Code, State: in.State, Error: in.Error, ErrorDescription: in.ErrorDescription, RedirectURL: in.RedirectURL})
		if err != nil {
			return oauthErr(t, err)
		}
		writeJSON(w, http.StatusOK, accountOut(a))
		return nil
	}
}
