package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/transfer"
)

// NotificationType values of the /notification envelope.
const (
	notifyProgress = 1
	notifyUser     = 2
	notifyApp      = 4
)

// envelope is the /notification message: PascalCase keys, as the product
// sends them (amove-api-notes.md section 2).
type envelope struct {
	Type int `json:"Type"`
	Data any `json:"Data"`
}

// progressData is the Data of every Progress message (Type 1): one shape
// for uploads, downloads, copies, server and P2P transfers, with status
// always the state's name (transferStatus) and kind telling them apart.
// The Fastr fields are empty for the other kinds.
type progressData struct {
	Event string `json:"event" enum:"progress,state"`
	transferStatus
	SourceServerURL string `json:"sourceServerUrl"`
	TargetServerURL string `json:"targetServerUrl"`
	Mode            string `json:"mode"`        // P2P: "push" or "relay"
	RelayReason     string `json:"relayReason"` // P2P relay: why
}

// userNotice is the Data of a UserNotification (Type 2): a transfer ended.
type userNotice struct {
	TransferID string `json:"transferId"`
	Message    string `json:"message"`
}

// appNotice is the Data of an AppNotification (Type 4): a non-GET call.
type appNotice struct {
	Endpoint string `json:"endpoint"`
	Method   string `json:"method"`
	Origin   string `json:"origin"`
}

func progressOf(event string, st transfer.Status) progressData {
	return progressData{Event: event, transferStatus: statusOut(st),
		SourceServerURL: st.Meta[amove.MetaSourceURL], TargetServerURL: st.Meta[amove.MetaTargetURL],
		Mode: st.Push.Mode, RelayReason: st.Push.RelayReason}
}

// Close codes of /notification sockets the agent ends (4000-4999 are the
// application's): the client should get a new token, or give up.
const (
	closeTokenExpired    websocket.StatusCode = 4401
	closeUserDeactivated websocket.StatusCode = 4403
)

// closeReason is why the agent ends a socket.
type closeReason struct {
	code websocket.StatusCode
	why  string
}

// hub keeps the /notification sockets. Each socket subscribes to the
// transfer events of its user (amove.Client.Subscribe, which filters them
// by the user's rights); the hub sends app notifications to the sockets of
// a user and closes them all when the server closes.
type hub struct {
	s      *Server
	unhook func() // from OnUserDeactivated
	// ctx ends at close: the subscriptions of the staged files' watchers.
	ctx    context.Context
	cancel context.CancelFunc
	files  sync.WaitGroup // removeWhenDone's watchers
	mu     sync.Mutex
	conns  map[*socket]struct{}
	done   chan struct{} // closed by close, under mu
}

type socket struct {
	p    amove.Principal
	send chan []byte      // app notifications; closed when the hub closes
	end  chan closeReason // buffered 1: the first reason wins
}

func newHub(s *Server) *hub {
	h := &hub{s: s, conns: map[*socket]struct{}{}, done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	// A deactivated user's sockets close at once, not when the token
	// expires, and tokenless routes stop acting for them.
	h.unhook = s.c.OnUserDeactivated(func(userID string) {
		s.signedIn.forget(userID)
		h.endUser(userID, closeReason{closeUserDeactivated, "user deactivated"})
	})
	return h
}

// close ends every socket with 1000 and stops watching staged files.
func (h *hub) close() {
	h.mu.Lock()
	select {
	case <-h.done:
		h.mu.Unlock()
		return
	default:
	}
	close(h.done)
	for c := range h.conns {
		close(c.send)
		delete(h.conns, c)
	}
	h.mu.Unlock()
	h.unhook()
	h.cancel()
	h.files.Wait()
}

// forget signs out the signed-in user if it is userID.
func (s *signedIn) forget(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil && s.p.UserID == userID {
		s.p = nil
	}
}

// endUser closes every socket of the user.
func (h *hub) endUser(userID string, r closeReason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.p.UserID == userID {
			select {
			case c.end <- r:
			default:
			}
		}
	}
}

// eventMessages are the socket messages of a transfer event: its progress
// notification, and a user notification when the transfer has ended.
func eventMessages(ev transfer.Event) [][]byte {
	kind := "progress"
	if ev.Type == transfer.EventState {
		kind = "state"
	}
	msg, _ := json.Marshal(envelope{Type: notifyProgress, Data: progressOf(kind, ev.Status)})
	if ev.Type != transfer.EventState || !ev.Status.State.Final() {
		return [][]byte{msg}
	}
	user, _ := json.Marshal(envelope{Type: notifyUser, Data: userNotice{TransferID: ev.Status.ID,
		Message: strings.ToUpper(string(ev.Status.Kind[:1])) + string(ev.Status.Kind[1:]) + " " + string(ev.Status.State),
	}})
	return [][]byte{msg, user}
}

// trySend drops a message for a socket that does not keep up rather than
// stall every other socket.
func trySend(c *socket, msg []byte) {
	select {
	case c.send <- msg:
	default:
	}
}

// removeWhenDone removes the staged file of p's form upload id once the
// upload has ended (completed, failed or cancelled); a paused upload keeps
// it to resume from. The watch ends with the hub.
func (h *hub) removeWhenDone(p amove.Principal, id, path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return
	default:
	}
	events, stop := h.s.c.Subscribe(h.ctx, p)
	h.files.Add(1)
	go func() {
		defer h.files.Done()
		defer stop()
		// The upload may have ended before the subscription began.
		if st, err := h.s.c.TransferStatus(h.ctx, p, id); err == nil && st.State.Final() {
			os.Remove(path)
			return
		}
		for ev := range events {
			if ev.Status.ID == id && ev.Type == transfer.EventState && ev.Status.State.Final() {
				os.Remove(path)
				return
			}
		}
	}()
}

// appNotification tells the caller's sockets about a non-GET call.
// The message is made only for a user with a socket open: most calls have
// no one listening.
func (h *hub) appNotification(p amove.Principal, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var msg []byte
	for c := range h.conns {
		if c.p.UserID != p.UserID {
			continue
		}
		if msg == nil {
			msg, _ = json.Marshal(envelope{Type: notifyApp, Data: appNotice{Endpoint: r.URL.Path, Method: r.Method, Origin: r.Header.Get("Origin")}})
		}
		trySend(c, msg)
	}
}

// serve upgrades /notification. Unlike the product, which leaves the socket
// open to anyone on the machine, it needs a token (socketAuth) and refuses web pages from
// origins other than the agent's own and the configured ones. A socket lives
// no longer than its token: it is closed with 4401 "token expired" when the
// token expires and 4403 "user deactivated" when the user is deactivated.
// The hub holds a goroutine and a send buffer per socket: a token must not
// be able to open them without bound.
const (
	maxSocketsPerUser = 16
	maxSockets        = 256
)

// fullLocked reports whether user may open no more sockets; h.mu must be
// held.
func (h *hub) fullLocked(userID string) bool {
	if len(h.conns) >= maxSockets {
		return true
	}
	n := 0
	for c := range h.conns {
		if c.p.UserID == userID {
			n++
		}
	}
	return n >= maxSocketsPerUser
}

// tokenProtocol is the Sec-WebSocket-Protocol name a client offers before
// its token ("access_token, <jwt>"): the agent echoes it, not the token.
const tokenProtocol = "access_token"

// socketAuth authenticates a /notification upgrade. The token comes as
// ?token= (or Authorization: Bearer) like the other agent routes or, since
// a browser's WebSocket cannot set headers and a query string ends up in
// logs, in Sec-WebSocket-Protocol: either "access_token, <jwt>" (the agent
// selects access_token) or the bare JWT (the agent selects the JWT, the only
// protocol offered). proto is the subprotocol to select, "" for none. The
// token is never logged.
func (s *Server) socketAuth(r *http.Request) (p amove.Principal, proto string, err error) {
	if r.URL.Query().Get("token") != "" || r.Header.Get("Authorization") != "" {
		p, err = s.authenticate(r, authQuery)
		return p, "", err
	}
	var offered []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				offered = append(offered, t)
			}
		}
	}
	token := ""
	for i, t := range offered {
		if strings.EqualFold(t, tokenProtocol) && i+1 < len(offered) {
			token, proto = offered[i+1], t
			break
		}
		if strings.Count(t, ".") == 2 && token == "" {
			token, proto = t, t
		}
	}
	if token == "" {
		p, err = s.authenticate(r, authQuery)
		return p, "", err
	}
	p, err = s.c.Authenticate(r.Context(), token)
	return p, proto, err
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if !s.anyHost && !loopbackHost(r.Host) {
		writeError(w, &httpError{status: http.StatusForbidden, code: "SECURITY", msg: "the agent answers only to localhost"})
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeError(w, &httpError{status: http.StatusBadRequest, code: "DEFAULT", msg: "a WebSocket upgrade is required"})
		return
	}
	p, proto, err := s.socketAuth(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	// The socket joins the hub before the handshake completes, so nothing
	// broadcast after the client learns the socket is open is missed; its
	// send buffer holds messages until the loop below writes them.
	c := &socket{p: p, send: make(chan []byte, 256), end: make(chan closeReason, 1)}
	h.mu.Lock()
	select {
	case <-h.done:
		h.mu.Unlock()
		writeError(w, &httpError{status: http.StatusServiceUnavailable, code: "DEFAULT", msg: "the agent is stopping"})
		return
	default:
	}
	if h.fullLocked(p.UserID) {
		h.mu.Unlock()
		writeError(w, &httpError{status: http.StatusTooManyRequests, code: "RATE_LIMIT",
			msg: fmt.Sprintf("at most %d notification sockets per user and %d in all", maxSocketsPerUser, maxSockets)})
		return
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if _, ok := h.conns[c]; ok {
			delete(h.conns, c)
			close(c.send)
		}
		h.mu.Unlock()
	}()
	// Only the events of transfers p may see, from before the client
	// learns that the socket is open.
	events, stop := s.c.Subscribe(r.Context(), p)
	defer stop()
	// Same rule as writes: pages served from this machine and the
	// configured origins may connect; other sites may not.
	patterns := append(originHosts(s.origins), "localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*")
	ao := &websocket.AcceptOptions{OriginPatterns: patterns}
	if proto != "" {
		// A browser fails the handshake unless the server echoes one of
		// the subprotocols it offered.
		ao.Subprotocols = []string{proto}
	}
	conn, err := websocket.Accept(w, r, ao)
	if err != nil {
		return // Accept has answered (403 for a foreign origin)
	}
	// A deactivation between the check above and the registration was
	// not seen by endUser: check once more now that it would be.
	if _, _, err := s.socketAuth(r); err != nil {
		why := closeReason{closeTokenExpired, "token expired"}
		if amove.ErrorCode(err) == amove.CodeInactiveUser {
			why = closeReason{closeUserDeactivated, "user deactivated"}
		}
		conn.Close(why.code, why.why)
		return
	}
	var expired <-chan time.Time
	if !p.Expires.IsZero() {
		t := time.NewTimer(time.Until(p.Expires))
		defer t.Stop()
		expired = t.C
	}
	// Clients only read; CloseRead answers pings and notices a close.
	ctx := conn.CloseRead(r.Context())
	write := func(msg []byte) error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, msg)
	}
	for {
		select {
		case <-expired:
			conn.Close(closeTokenExpired, "token expired")
			return
		case why := <-c.end:
			conn.Close(why.code, why.why)
			return
		case msg, ok := <-c.send:
			if !ok {
				conn.Close(websocket.StatusNormalClosure, "")
				return
			}
			if write(msg) != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return // ctx is done
			}
			for _, msg := range eventMessages(ev) {
				if write(msg) != nil {
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// originHosts turns "http://host:port" origins into the host patterns the
// websocket library matches.
func originHosts(origins []string) []string {
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		if i := strings.Index(o, "://"); i >= 0 {
			o = o[i+3:]
		}
		out = append(out, strings.TrimSuffix(o, "/"))
	}
	return out
}
