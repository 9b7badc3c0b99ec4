package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Mailer sends one plain-text message.
type Mailer interface {
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
