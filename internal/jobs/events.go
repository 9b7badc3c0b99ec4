package jobs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
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
		if err := q.notify.Notify(ctx, eventsChannel, q.cfg.AgentID+"\n"+topic+"\n"+string(payload)); err != nil {
			return fmt.Errorf("jobs: publish: %w", err)
		}
		return nil
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

// deliver handles a message from the Notifier: an event for this process's
// subscribers, or a pause for a job that may run here.
func (q *Queue) deliver(channel, payload string) {
	switch channel {
	case eventsChannel:
		agent, rest, ok1 := strings.Cut(payload, "\n")
		topic, body, ok2 := strings.Cut(rest, "\n")
		if ok1 && ok2 {
			q.hub.send(Event{Agent: agent, Topic: topic, Payload: []byte(body)})
		}
	case controlChannel:
		action, idText, _ := strings.Cut(payload, " ")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err == nil && action == "pause" {
			q.stopRunning(id, ErrPaused)
		}
	}
}
