package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// send_download_url mails a link on the caller's behalf to an address the
// caller names, so it is bounded per user: by default a burst of 3 messages,
// then one every 6 minutes (10 an hour). Options.MailLimit changes it.
const (
	defaultMailBurst = 3
	defaultMailEvery = 6 * time.Minute
)

// mailLimiter is a token bucket per user. The zero value is the default
// limit.
type mailLimiter struct {
	burst int
	every time.Duration

	mu    sync.Mutex
	users map[string]*rate.Limiter
}

// maxMailUsers bounds the limiter map; buckets that are full again (their
// user sent nothing lately) are dropped when it is reached.
const maxMailUsers = 10000

// allow spends one message of user's bucket, or says how long to wait.
func (l *mailLimiter) allow(user string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	burst, every := l.burst, l.every
	if burst == 0 && every == 0 {
		burst, every = defaultMailBurst, defaultMailEvery
	}
	if every <= 0 {
		return true, 0
	}
	if l.users == nil {
		l.users = map[string]*rate.Limiter{}
	}
	lim, ok := l.users[user]
	if !ok {
		if len(l.users) >= maxMailUsers {
			for u, b := range l.users {
				if b.TokensAt(now) >= float64(b.Burst()) {
					delete(l.users, u)
				}
			}
		}
		lim = rate.NewLimiter(rate.Every(every), max(burst, 1))
		l.users[user] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Mailer sends one plain-text message.
type Mailer interface {
	// Send delivers a message with subject and body to the address to. It
	// returns once the message is handed over, or with ctx's error.
	Send(ctx context.Context, to, subject, body string) error
}

// SMTPMailer sends through an SMTP server with net/smtp (STARTTLS when the
// server offers it; PLAIN auth only over TLS or to localhost, as net/smtp
// enforces).
type SMTPMailer struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
}

// Send implements Mailer: it sends one message through m.Addr with net/smtp,
// every line ending in CRLF so that user input cannot smuggle a second
// message. Cancelling ctx returns at once but does not abort the SMTP
// exchange already under way.
func (m SMTPMailer) Send(ctx context.Context, to, subject, body string) error {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: bad address %q: %w", m.Addr, err)
	}
	var auth smtp.Auth
	if m.Username != "" {
		auth = smtp.PlainAuth("", m.Username, m.Password, host)
	}
	msg := strings.Join([]string{
		"From: " + m.From,
		"To: " + to,
		"Subject: " + subject,
		"Date: " + time.Now().UTC().Format(time.RFC1123Z),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"",
		crlf(body),
	}, "\r\n")
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(m.Addr, auth, m.From, []string{to}, []byte(msg)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// crlf gives every line of the body a CRLF ending. Fix (tests): a CR from
// user input (the key, the note) used to pass through as a bare CR ("x\r\n"
// became "x\r\r\n"), which RFC 5321 forbids and SMTP smuggling relies on;
// every CR, LF and CRLF is now one line break.
func crlf(body string) string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	return strings.ReplaceAll(body, "\n", "\r\n")
}
