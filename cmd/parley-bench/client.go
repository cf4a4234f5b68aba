package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// phase is a step of logging in; failures and latencies are reported per
// phase.
type phase int

const (
	phConnect phase = iota
	phStartTLS
	phRegister
	phAuth
	phBind
	phRoster
	phPresence
	numPhases
)

var phaseNames = [numPhases]string{"connect", "starttls", "register", "auth", "bind", "roster", "presence"}

func (p phase) String() string { return phaseNames[p] }

// clientConfig is what every session of a run shares.
type clientConfig struct {
	server   *net.TCPAddr
	domain   string
	password string
	mech     string // SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN
	tls      *tls.Config
	timeout  time.Duration // bound on one login
	src      *srcPool
	keys     *keyCache
}

// phaseError is a login failure in a phase.
type phaseError struct {
	phase phase
	err   error
}

func (e *phaseError) Error() string { return e.phase.String() + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// client is one XMPP client session over TCP with STARTTLS.
type client struct {
	cfg   *clientConfig
	conn  net.Conn
	sc    *scanner
	wmu   sync.Mutex
	jid   string
	tls   tls.ConnectionState
	phase [numPhases]time.Duration // time spent in each phase of the login
	ids   int
}

// dial connects from source address index i and negotiates TLS; the
// stream is then open with its post-TLS features read.
func dial(ctx context.Context, cfg *clientConfig, i int) (*client, error) {
	c := &client{cfg: cfg}
	t := time.Now()
	d := net.Dialer{Timeout: cfg.timeout, LocalAddr: &net.TCPAddr{IP: cfg.src.addr(i)}}
	conn, err := d.DialContext(ctx, "tcp4", cfg.server.String())
	if err != nil {
		return nil, &phaseError{phConnect, err}
	}
	c.conn = conn
	c.sc = newScanner(conn)
	_ = conn.SetDeadline(time.Now().Add(cfg.timeout))
	c.phase[phConnect] = time.Since(t)
	t = time.Now()
	if err := c.startTLS(); err != nil {
		conn.Close()
		return nil, &phaseError{phStartTLS, err}
	}
	c.phase[phStartTLS] = time.Since(t)
	return c, nil
}

// login runs a whole login on a fresh connection: connect, STARTTLS, SASL,
// bind, roster get and initial presence.
func login(ctx context.Context, cfg *clientConfig, i int, user string) (*client, error) {
	c, err := dial(ctx, cfg, i)
	if err != nil {
		return nil, err
	}
	if err := c.finishLogin(user); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// finishLogin authenticates on an open, encrypted stream and takes the
// session online.
func (c *client) finishLogin(user string) error {
	t := time.Now()
	f, err := c.features()
	if err == nil {
		err = c.auth(f, user)
	}
	if err != nil {
		return &phaseError{phAuth, err}
	}
	c.phase[phAuth] = time.Since(t)
	t = time.Now()
	if err := c.bind(); err != nil {
		return &phaseError{phBind, err}
	}
	c.phase[phBind] = time.Since(t)
	t = time.Now()
	if _, err := c.iq(`<iq type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>`); err != nil {
		return &phaseError{phRoster, err}
	}
	c.phase[phRoster] = time.Since(t)
	t = time.Now()
	if err := c.write([]byte("<presence/>")); err != nil {
		return &phaseError{phPresence, err}
	}
	c.phase[phPresence] = time.Since(t)
	_ = c.conn.SetDeadline(time.Time{})
	return nil
}

func (c *client) header() error {
	return c.write([]byte(`<?xml version='1.0'?><stream:stream to='` + c.cfg.domain +
		`' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`))
}

// features opens a stream and returns (a copy of) its features element.
func (c *client) features() ([]byte, error) {
	if err := c.header(); err != nil {
		return nil, err
	}
	for {
		el, err := c.sc.next()
		if err != nil {
			return nil, err
		}
		switch n := string(name(el)); {
		case isStreamHeader(el):
		case n == "stream:features" || n == "features":
			return bytes.Clone(el), nil // outlives the next read
		default:
			return nil, fmt.Errorf("expected stream features, got %.200s", el)
		}
	}
}

func (c *client) startTLS() error {
	f, err := c.features()
	if err != nil {
		return err
	}
	if child(f, "starttls") == nil {
		return errors.New("server offers no STARTTLS")
	}
	if err := c.write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")); err != nil {
		return err
	}
	el, err := c.sc.next()
	if err != nil {
		return err
	}
	if string(name(el)) != "proceed" {
		return fmt.Errorf("starttls refused: %.200s", el)
	}
	tc := tls.Client(c.conn, c.cfg.tls)
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.tls = tc.ConnectionState()
	c.conn = tc
	c.sc.reset(tc)
	return nil
}

// auth runs SASL, given the stream's features, and restarts the stream.
func (c *client) auth(f []byte, user string) error {
	var err error
	if !offers(f, c.cfg.mech) {
		return fmt.Errorf("server does not offer %s", c.cfg.mech)
	}
	var sc *scramClient
	var initial []byte
	verified := false
	if c.cfg.mech == "PLAIN" {
		initial = []byte("\x00" + user + "\x00" + c.cfg.password)
	} else {
		if sc, err = newScramClient(c.cfg.mech, user, c.cfg.password, c.cfg.keys); err != nil {
			return err
		}
		initial = sc.first()
	}
	if err := c.write([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + c.cfg.mech + "'>" +
		base64.StdEncoding.EncodeToString(initial) + "</auth>")); err != nil {
		return err
	}
	for {
		el, err := c.sc.next()
		if err != nil {
			return err
		}
		data, derr := base64.StdEncoding.DecodeString(string(text(el)))
		switch string(name(el)) {
		case "challenge":
			if sc == nil || derr != nil {
				return fmt.Errorf("unexpected challenge %.200s", el)
			}
			if sc.keys != nil {
				// The server-final-message as a challenge, then an empty
				// success (RFC 6120 §6.3.10 lets servers do either).
				if err := sc.verify(data); err != nil {
					return err
				}
				verified = true
				if err := c.write([]byte("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")); err != nil {
					return err
				}
				continue
			}
			resp, err := sc.final(data)
			if err != nil {
				return err
			}
			if err := c.write([]byte("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
				base64.StdEncoding.EncodeToString(resp) + "</response>")); err != nil {
				return err
			}
		case "success":
			if sc != nil && !verified {
				if derr != nil {
					return derr
				}
				if err := sc.verify(data); err != nil {
					return err
				}
			}
			c.sc.reset(c.conn) // the stream restarts: nothing after <success/> is kept
			return nil
		case "failure":
			return fmt.Errorf("sasl failure: %.200s", el)
		default:
			return fmt.Errorf("unexpected %.200s", el)
		}
	}
}

// offers reports whether features advertise SASL mechanism mech.
func offers(features []byte, mech string) bool {
	ms := child(features, "mechanisms")
	return ms != nil && bytes.Contains(ms, []byte(">"+mech+"</mechanism>"))
}

func (c *client) bind() error {
	if _, err := c.features(); err != nil {
		return err
	}
	el, err := c.iq(`<iq type='set' id='%s'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`)
	if err != nil {
		return err
	}
	j := child(el, "jid")
	if j == nil {
		return fmt.Errorf("bind result without a jid: %.200s", el)
	}
	c.jid = string(text(j))
	return nil
}

// iq sends a request (format with one %s for the id) and waits for its
// result, skipping other elements; an error reply is an error.
func (c *client) iq(format string) ([]byte, error) {
	c.ids++
	id := "b" + strconv.Itoa(c.ids)
	if err := c.write(fmt.Appendf(nil, format, id)); err != nil {
		return nil, err
	}
	for {
		el, err := c.sc.next()
		if err != nil {
			return nil, err
		}
		if string(name(el)) != "iq" || string(attr(el, "id")) != id {
			if n := string(name(el)); n == "stream:error" || n == "error" {
				return nil, fmt.Errorf("stream error: %.200s", el)
			}
			continue
		}
		if string(attr(el, "type")) != "result" {
			return nil, fmt.Errorf("iq %s failed: %.300s", id, el)
		}
		return el, nil
	}
}

// write sends bytes; safe for concurrent use.
func (c *client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

// close ends the stream politely and closes the connection.
func (c *client) close() {
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.write([]byte("</stream:stream>"))
	_ = c.conn.Close()
}

// kex names the TLS version and key exchange of the session, e.g.
// "TLS1.3/X25519MLKEM768".
func kex(st tls.ConnectionState) string {
	if st.Version == 0 {
		return "none"
	}
	return tls.VersionName(st.Version) + "/" + st.CurveID.String()
}
