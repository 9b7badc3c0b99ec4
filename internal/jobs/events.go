package jobs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Event is a message published by an agent to every agent's subscribers,
// its own included.
type Event struct {
	Agent   string // the publishing agent
	Topic   string
	Payload []byte
}

// MaxEventSize bounds an event's agent id, topic and payload together:
// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MaxEventSize = 7990

// subscriberBuffer is how many events a slow subscriber may fall behind
// before it misses some. Events are progress and state changes that the
// next event or a Get supersedes, so a subscriber that cannot keep up
// misses events rather than stalling every agent's events.
const subscriberBuffer = 256

// Publish sends an event to the subscribers of every agent: through
// PostgreSQL's NOTIFY, or within this process on SQLite. Delivery is at
// most once: an agent whose listener is reconnecting misses events. The
// topic is non-empty without newlines; the payload is UTF-8 without NUL
// bytes (NOTIFY carries text); together they stay within MaxEventSize.
func (q *Queue) Publish(ctx context.Context, topic string, payload []byte) error {
	if topic == "" || strings.ContainsAny(topic, "\n\x00") {
		return fmt.Errorf("%w: event topic %q", ErrInvalid, topic)
	}
	if n := len(q.cfg.AgentID) + len(topic) + len(payload) + 2; n > MaxEventSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, MaxEventSize)
	}
	if !utf8.Valid(payload) || strings.ContainsRune(string(payload), 0) {
		return fmt.Errorf("%w: event payload is not UTF-8 text", ErrInvalid)
	}
	if q.hub.isClosed() {
		return ErrClosed
	}
	if q.notify != nil {
		return q.notify.publish(ctx, q.cfg.AgentID+"\n"+topic+"\n"+string(payload))
	}
	q.hub.send(Event{Agent: q.cfg.AgentID, Topic: topic, Payload: payload})
	return nil
}

// Subscribe returns the events of every agent from now on, until ctx ends
// or the queue is drained; then the channel is closed.
func (q *Queue) Subscribe(ctx context.Context) <-chan Event {
	return q.hub.subscribe(ctx)
}

// hub fans events out to this process's subscribers.
type hub struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed bool
}

func (h *hub) subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, subscriberBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch
	}
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
	}
	h.subs[ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	})
	return ch
}

func (h *hub) send(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // too slow: this one misses the event (see subscriberBuffer)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// notifier carries events and control messages between agents on
// PostgreSQL. Channels are prefixed with the schema, like river's
// (riverpgxv5 Listener.Connect), because NOTIFY channels are per database
// and agents in different schemas of one database must not hear each other.
type notifier interface {
	publish(ctx context.Context, msg string) error
	control(ctx context.Context, action string, id int64) error
	run(ctx context.Context)
}

type pgNotifier struct {
	pool      *pgxpool.Pool
	q         *Queue
	evChannel string        // <schema>.amove_events
	ctChannel string        // <schema>.amove_control
	conn      *pgxpool.Conn // the listening connection, owned by run; nil while reconnecting
}

// listen connects the listener, so that Open returns only once events and
// control messages from then on are heard.
func listen(ctx context.Context, pool *pgxpool.Pool, q *Queue) (*pgNotifier, error) {
	var schema string
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("jobs: listen: %w", err)
	}
	n := &pgNotifier{pool: pool, q: q, evChannel: schema + ".amove_events", ctChannel: schema + ".amove_control"}
	if err := n.connect(ctx); err != nil {
		return nil, fmt.Errorf("jobs: listen: %w", err)
	}
	return n, nil
}

func (n *pgNotifier) connect(ctx context.Context) error {
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	for _, ch := range []string{n.evChannel, n.ctChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Release()
			return err
		}
	}
	n.conn = conn
	return nil
}

func (n *pgNotifier) publish(ctx context.Context, msg string) error {
	if _, err := n.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, n.evChannel, msg); err != nil {
		return fmt.Errorf("jobs: publish: %w", err)
	}
	return nil
}

func (n *pgNotifier) control(ctx context.Context, action string, id int64) error {
	if _, err := n.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, n.ctChannel, action+" "+strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("jobs: %s %d: notify: %w", action, id, err)
	}
	return nil
}

// run delivers notifications until ctx ends, reconnecting after errors.
func (n *pgNotifier) run(ctx context.Context) {
	defer func() {
		if n.conn != nil {
			// The connection is LISTENing: close it rather than hand it
			// back to the pool in that state.
			_ = n.conn.Conn().Close(context.WithoutCancel(ctx))
			n.conn.Release()
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if n.conn == nil {
			if err := n.connect(ctx); err != nil {
				if ctx.Err() == nil {
					n.q.log.WarnContext(ctx, "jobs: listen: reconnect", "err", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
		}
		msg, err := n.conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() == nil {
				n.q.log.WarnContext(ctx, "jobs: listen", "err", err)
				_ = n.conn.Conn().Close(ctx)
				n.conn.Release()
				n.conn = nil
			}
			continue
		}
		switch msg.Channel {
		case n.evChannel:
			agent, rest, ok1 := strings.Cut(msg.Payload, "\n")
			topic, payload, ok2 := strings.Cut(rest, "\n")
			if ok1 && ok2 {
				n.q.hub.send(Event{Agent: agent, Topic: topic, Payload: []byte(payload)})
			}
		case n.ctChannel:
			action, idText, _ := strings.Cut(msg.Payload, " ")
			id, err := strconv.ParseInt(idText, 10, 64)
			if err == nil && action == "pause" {
				n.q.stopRunning(id, ErrPaused)
			}
		}
	}
}
