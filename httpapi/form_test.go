package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// formBody builds an upload_object_from_form body. A nil file leaves the
// file part out.
func formBody(t *testing.T, accountID, storage, fileName string, file []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("cloudAccountJson", `{"id":"`+accountID+`"}`)
	_ = w.WriteField("storageName", storage)
	_ = w.WriteField("uploadPath", "/forms/")
	if file != nil {
		fw, err := w.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

// TestUploadFromForm: a browser's form upload reaches the bucket; a missing
// or empty file is a 400, as is a body that is not multipart.
func TestUploadFromForm(t *testing.T) {
	e := newMemoryEnv(t)
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	post := func(ctype string, body []byte) reply {
		t.Helper()
		return e.request(t, "POST", "/cloud/upload_object_from_form?token="+e.aliceTok, http.Header{"Content-Type": {ctype}}, body)
	}

	// Without a token the form route answers 401, even with alice signed
	// in to the agent: tokenless mode is an explicit option
	// (TestTokenlessLocalRoutes).
	ct, body := formBody(t, acct, "b", "hello.txt", []byte("hello"))
	must(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": alicePassword}), 200, nil)
	wantError(t, e.request(t, "POST", "/cloud/upload_object_from_form", http.Header{"Content-Type": {ct}}, body), 401, "AUTH")

	ct, body = formBody(t, acct, "b", "hello.txt", nil)
	wantError(t, post(ct, body), 400, "DEFAULT")
	ct, body = formBody(t, acct, "b", "hello.txt", []byte{})
	wantError(t, post(ct, body), 400, "DEFAULT")
	wantError(t, post("application/json", []byte(`{}`)), 400, "DEFAULT")
	wantError(t, post("multipart/form-data; boundary=x", []byte("--x\r\nbroken")), 400, "DEFAULT")
	ct, body = formBody(t, "../../etc", "b", "hello.txt", []byte("hello"))
	wantError(t, post(ct, body), 499, "DEFAULT")

	// A real upload, with a hostile file name reduced to its base name.
	ct, body = formBody(t, acct, "b", `..\..\evil/hello.txt`, []byte("hello"))
	var id transferID
	must(t, post(ct, body), 200, &id)
	if st := e.waitTransfer(t, e.aliceTok, id.TransferID); st.Status != "completed" || st.TargetPath != "forms/hello.txt" {
		t.Fatalf("form upload: %+v", st)
	}
	rc, err := e.mem.NewRangeReader(context.Background(), "b", "forms/hello.txt", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Fatalf("uploaded %q", got)
	}
	// The staged file is removed once the transfer has ended.
	staged := filepath.Join(e.api.tempDir, "tmp", acct, "b")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ents, _ := os.ReadDir(staged)
		left, _ := os.ReadDir(filepath.Join(e.api.tempDir, "incoming"))
		if len(ents) == 0 && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staged files left: %v %v", ents, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// smtpServer is a minimal in-process SMTP server that keeps every message.
type smtpServer struct {
	addr   string
	refuse bool // answer 550 to RCPT

	mu   sync.Mutex
	msgs []smtpMessage
}

type smtpMessage struct {
	from string
	to   []string
	data string
}

func startSMTP(t *testing.T, refuse bool) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), refuse: refuse}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.session(c)
			}()
		}
	}()
	return s
}

func (s *smtpServer) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 localhost test SMTP")
	var m smtpMessage
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			tp.PrintfLine("250 localhost")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = smtpMessage{from: line[len("MAIL FROM:"):]}
			tp.PrintfLine("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			if s.refuse {
				tp.PrintfLine("550 no such user")
				continue
			}
			m.to = append(m.to, strings.Trim(line[len("RCPT TO:"):], "<> "))
			tp.PrintfLine("250 ok")
		case cmd == "DATA":
			tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data = string(data)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case cmd == "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok") // RSET, NOOP
		}
	}
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

// TestSendDownloadURL mails a presigned MinIO URL through an in-process
// SMTP server; the URL in the message downloads the object.
func TestSendDownloadURL(t *testing.T) {
	s3env, bucket := minio(t)
	smtpd := startSMTP(t, false)
	e := newEnv(t, envConfig{opts: Options{Mailer: SMTPMailer{Addr: smtpd.addr, From: "agent@localhost"}}})
	acct := e.minioAccount(t, e.aliceTok, s3env)

	// Put an object with a presigned upload URL.
	var putURL string
	must(t, e.cloud(t, "POST", "/cloud/generate_upload_url", e.aliceTok, map[string]any{
		"cloudAccountId": acct.ID, "storageName": bucket, "key": "shared/report.txt",
	}), 200, &putURL)
	content := []byte("the quarterly report\n")
	req, _ := http.NewRequest("PUT", putURL, bytes.NewReader(content))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT: %s", res.Status)
	}

	must(t, e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, map[string]any{
		"cloudAccountId": acct.ID, "storageName": bucket, "key": "shared/report.txt",
		"email": "carol@example.com", "note": "Here it is.", "expireHours": 2,
	}), 200, nil)
	msgs := smtpd.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if len(m.to) != 1 || m.to[0] != "carol@example.com" {
		t.Fatalf("recipients %v", m.to)
	}
	hdr, err := textproto.NewReader(bufio.NewReader(strings.NewReader(m.data))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Get("To") != "carol@example.com" || !strings.Contains(hdr.Get("Subject"), "shared/report.txt") {
		t.Errorf("headers %v", hdr)
	}
	if !strings.Contains(m.data, "Here it is.") {
		t.Errorf("the note is missing: %s", m.data)
	}
	u := regexp.MustCompile(`https?://\S+`).FindString(m.data)
	if u == "" {
		t.Fatalf("no URL in %s", m.data)
	}
	res, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, content) {
		t.Fatalf("GET of the mailed URL: %s %q", res.Status, got)
	}

	// A key with a newline cannot add a header.
	must(t, e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, map[string]any{
		"cloudAccountId": acct.ID, "storageName": bucket, "key": "x\r\nBcc: eve@example.com", "email": "carol@example.com",
	}), 200, nil)
	msgs = smtpd.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	hdr, err = textproto.NewReader(bufio.NewReader(strings.NewReader(msgs[1].data))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	// No added header, and no bare CR left in the message (the DATA reader
	// has turned CRLF into LF): a bare CR is what SMTP smuggling needs.
	if hdr.Get("Bcc") != "" || strings.Contains(msgs[1].data, "\r") {
		t.Errorf("header injection through the key: %q", msgs[1].data)
	}

	sweepSecrets(t, e, nil, s3env.AccessKey, s3env.SecretKey)
}

// TestSendDownloadURLFailures: no mail server configured, and a server that
// refuses the recipient, are both 499 and leak nothing about the server.
func TestSendDownloadURLFailures(t *testing.T) {
	body := func(acct string) map[string]any {
		return map[string]any{"cloudAccountId": acct, "storageName": "b", "key": "k", "email": "carol@example.com"}
	}
	t.Run("no mailer", func(t *testing.T) {
		e := newMemoryEnv(t)
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		wantError(t, e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, body(acct)), 499, "DEFAULT")
	})
	t.Run("refused", func(t *testing.T) {
		smtpd := startSMTP(t, true)
		e := newMemoryEnv(t, Options{Mailer: SMTPMailer{Addr: smtpd.addr, From: "agent@localhost"}})
		// The memory driver presigns only when it is served somewhere.
		ms := httptest.NewServer(e.mem)
		t.Cleanup(ms.Close)
		e.mem.SetBaseURL(ms.URL)
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		r := e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, body(acct))
		wantError(t, r, 499, "DEFAULT")
		if strings.Contains(string(r.body), "550") || strings.Contains(string(r.body), smtpd.addr) {
			t.Errorf("the error leaks the mail server's answer: %s", r.body)
		}
	})
}
