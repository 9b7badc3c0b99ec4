package httpapi

import (
	"net/http"
	"time"

	"github.com/amove/amove-go"
)

func (s *Server) getAccounts(w http.ResponseWriter, r *http.Request) error {
	as, err := s.c.ListAccounts(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, accountsOut(as))
	return nil
}

func (s *Server) hostedGetAll(w http.ResponseWriter, r *http.Request) error {
	as, err := s.c.ListAccounts(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, collection[cloudAccount]{
		Data: accountsOut(as), Total: len(as),
		Options: collectionOptions{Sort: []sortOption{{Field: "Name"}}},
	})
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.c.GetAccount(r.Context(), principalFrom(r.Context()), r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, accountOut(a))
	return nil
}

func (s *Server) insertAccount(w http.ResponseWriter, r *http.Request) error {
	var in cloudAccount
	if err := decode(r, &in); err != nil {
		return err
	}
	n, err := in.newAccount()
	if err != nil {
		return err
	}
	a, err := s.c.InsertAccount(r.Context(), principalFrom(r.Context()), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, accountOut(a))
	return nil
}

// manageShare takes the agent's full CloudAccount or the hosted {id,
// shared}; only the sharing flag is persisted.
func (s *Server) manageShare(w http.ResponseWriter, r *http.Request) error {
	var in shareRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Shared == nil {
		return invalid("shared is required")
	}
	if err := s.c.SetShared(r.Context(), principalFrom(r.Context()), in.ID, *in.Shared); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	if err := s.c.DeleteAccount(r.Context(), principalFrom(r.Context()), r.URL.Query().Get("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, true)
	return nil
}

// hostedDeleteAccount is the hosted delete: an account that does not exist
// or that the caller may not see is 499 with the spec's code Global and
// message "Object not found.", not the agent's NOT_FOUND.
func (s *Server) hostedDeleteAccount(w http.ResponseWriter, r *http.Request) error {
	if err := s.c.DeleteAccount(r.Context(), principalFrom(r.Context()), r.URL.Query().Get("id")); err != nil {
		if amove.ErrorCode(err) == amove.CodeNotFound {
			return &httpError{status: StatusValidation, code: codeGlobal, msg: "Object not found."}
		}
		return err
	}
	writeJSON(w, http.StatusOK, true)
	return nil
}

// login is the agent's sign-in (amove-api-notes.md section 3): username and
// password give a JWT, and the user becomes the agent's signed-in user.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	// Only a well-formed attempt spends one: a malformed body costs no
	// password check.
	if wait := s.loginRate.take(clientAddr(r), time.Now()); wait > 0 {
		return rateLimited(wait)
	}
	tok, err := s.c.Login(r.Context(), in.Username, in.Password)
	if err != nil {
		return err
	}
	p := tok.Principal
	if in.Type != 0 && amove.Role(in.Type) != p.Role {
		return &amove.Error{Code: amove.CodeAuth, Message: "wrong username or password"}
	}
	s.signedIn.set(p)
	writeJSON(w, http.StatusOK, loginResponse{JWTToken: tok.Token, Expires: tok.Expires.UTC()})
	return nil
}
