// Package servertest starts an in-process Parley server on free loopback
// ports and provides a raw-socket client that speaks just enough XMPP
// (STARTTLS, SASL PLAIN, bind) to put exact bytes on the wire — for tests
// of the server's handling of good and hostile input, in the spirit of
// net/http/httptest.
package servertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/conf"
	_ "github.com/parley-im/parley/modules/all" // the built-in modules, as the binary has them
	"github.com/parley-im/parley/server"
	_ "github.com/parley-im/parley/storage/embedded"
	"github.com/parley-im/parley/xmpp"
)

// Server is a running test server.
type Server struct {
	*server.Server
	Config *conf.Config
	cancel context.CancelFunc
	done   chan error
}

// Start runs a server for domain "localhost" on free loopback ports with a
// store in a temporary directory; edit may change the configuration first.
// The server stops when the test ends.
func Start(t testing.TB, edit func(*conf.Config)) *Server {
	t.Helper()
	cfg := conf.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listeners = []conf.Listener{
		{Type: "xmpp", Address: "127.0.0.1:0"},
		{Type: "xmpps", Address: "127.0.0.1:0"},
		{Type: "websocket", Address: "127.0.0.1:0", Path: "/xmpp-websocket"},
	}
	cfg.Admin.Address = "127.0.0.1:0"
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Check(); err != nil {
		t.Fatalf("servertest: configuration: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("servertest: new server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		cancel()
		t.Fatalf("servertest: listen: %v", err)
	}
	s := &Server{Server: srv, Config: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx) }()
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down and waits for it (idempotent).
func (s *Server) Stop() {
	s.cancel()
	if s.done != nil {
		<-s.done
		s.done = nil
	}
}

// AddUser creates an account.
func (s *Server) AddUser(t testing.TB, jid, password string) {
	t.Helper()
	if err := s.Accounts().Create(context.Background(), xmpp.MustParseJID(jid), password); err != nil {
		t.Fatalf("servertest: add user %s: %v", jid, err)
	}
}

// Conn is a raw client connection. Reads happen inside Expect, so the
// connection can be handed to TLS between two expectations; everything read
// is kept for failure messages.
type Conn struct {
	t    testing.TB
	conn net.Conn
	buf  bytes.Buffer // unread input
	seen bytes.Buffer // everything read
	rerr error
}

// Dial opens a raw TCP connection to the server's listener of type typ.
func (s *Server) Dial(t testing.TB, typ string) *Conn {
	t.Helper()
	a := s.Addr(typ)
	if a == nil {
		t.Fatalf("servertest: no %s listener", typ)
	}
	c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
	if err != nil {
		t.Fatalf("servertest: dial %s: %v", a, err)
	}
	if typ == "xmpps" {
		tc := tls.Client(c, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("servertest: direct tls: %v", err)
		}
		c = tc
	}
	rc := &Conn{t: t, conn: c}
	t.Cleanup(func() { rc.conn.Close() })
	return rc
}

// Send writes raw bytes.
func (c *Conn) Send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("servertest: send: %v", err)
	}
}

// Expect reads until the unread input matches the regular expression re,
// consumes input up to the end of the match and returns the match.
func (c *Conn) Expect(re string) string {
	c.t.Helper()
	m, ok := c.TryExpect(re, 5*time.Second)
	if !ok {
		c.t.Fatalf("servertest: expected %q within 5s; read so far (err %v):\n%s", re, c.rerr, c.seen.String())
	}
	return m
}

// TryExpect is Expect that reports failure instead of failing the test.
func (c *Conn) TryExpect(re string, timeout time.Duration) (string, bool) {
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	b := make([]byte, 4096)
	for {
		if loc := rx.FindIndex(c.buf.Bytes()); loc != nil {
			m := string(c.buf.Bytes()[loc[0]:loc[1]])
			c.buf.Next(loc[1])
			return m, true
		}
		if c.rerr != nil || time.Now().After(deadline) {
			return "", false
		}
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.conn.Read(b)
		c.buf.Write(b[:n])
		c.seen.Write(b[:n])
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				c.rerr = err
			}
		}
	}
}

// Seen returns everything read so far.
func (c *Conn) Seen() string { return c.seen.String() }

// Closed reads until the server closes the connection, discarding input,
// and reports whether it did within timeout.
func (c *Conn) Closed(timeout time.Duration) bool {
	_, _ = c.TryExpect(`\x00never`, timeout)
	return c.rerr != nil
}

// Header opens a client stream to domain.
func (c *Conn) Header(domain string) {
	c.Send(`<?xml version='1.0'?><stream:stream to='` + domain + `' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`)
}

// StartTLS opens a stream, upgrades it with STARTTLS and reopens it.
func (c *Conn) StartTLS(domain string) {
	c.t.Helper()
	c.Header(domain)
	c.Expect(`</stream:features>`)
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.Expect(`<proceed [^>]*/>`)
	c.buf.Reset()
	tc := tls.Client(c.conn, &tls.Config{ServerName: domain, InsecureSkipVerify: true})
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("servertest: starttls handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	c.conn = tc
	c.Header(domain)
}

// Login performs STARTTLS (on a plain connection), SASL PLAIN and binds
// resource, returning the bound full JID.
func (c *Conn) Login(domain, user, password, resource string) string {
	c.t.Helper()
	if _, ok := c.conn.(*tls.Conn); ok {
		c.Header(domain)
	} else {
		c.StartTLS(domain)
	}
	c.Expect(`</stream:features>`)
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + `</auth>`)
	c.Expect(`<success [^>]*>[^<]*</success>|<success [^>]*/>`)
	c.Header(domain)
	c.Expect(`</stream:features>`)
	c.Send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + resource + `</resource></bind></iq>`)
	m := c.Expect(`<jid>[^<]+</jid>`)
	c.Expect(`</iq>`)
	return strings.TrimSuffix(strings.TrimPrefix(m, "<jid>"), "</jid>")
}

// Online logs in and sends initial presence.
func (s *Server) Online(t testing.TB, user, password, resource string) *Conn {
	t.Helper()
	c := s.Dial(t, "xmpp")
	j := xmpp.MustParseJID(user)
	c.Login(j.Domain(), j.Local(), password, resource)
	c.Send(`<presence/>`)
	return c
}

func (c *Conn) String() string { return fmt.Sprintf("conn %s", c.conn.LocalAddr()) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
