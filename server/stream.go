package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/server/auth"
	"github.com/parley-im/parley/xmpp"
	"github.com/parley-im/parley/xmpp/xmlscan"
)

// maxAuthFailures is how many failed SASL attempts one stream gets before it
// is closed (RFC 6120 §6.4.5 suggests between 2 and 5).
const maxAuthFailures = 3

// negotiation is the state of one stream from accept to a bound resource.
// It runs on the connection's first goroutine and ends by starting the
// session's read loop on a fresh one.
type negotiation struct {
	srv        *Server
	s          *session
	rd         *deadlineConn // what the scanner reads from
	requireTLS bool
	tls        bool
	authed     bool
	user       xmpp.JID // bare, after SASL
	failures   int
	hdr        xmlscan.Header
	streamID   string
}

// negotiate drives the stream negotiation of RFC 6120 §4–7 over s.conn,
// whose TLS state (direct TLS, wss) is given by secure. It returns nil once
// the session is bound and its read loop started.
func (srv *Server) negotiate(ctx context.Context, s *session, requireTLS, isTLS bool) error {
	n := &negotiation{srv: srv, s: s, requireTLS: requireTLS, tls: isTLS}
	n.rd = &deadlineConn{Conn: s.conn}
	_ = s.conn.SetDeadline(time.Now().Add(srv.limits.NegotiationTimeout))
	s.scan = xmlscan.New(n.rd, srv.scanLimits)
	for {
		done, err := n.stream(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// stream handles one stream (between restarts). It reports done when a
// resource is bound.
func (n *negotiation) stream(ctx context.Context) (done bool, err error) {
	hdr, err := n.s.scan.ReadHeader()
	if err != nil {
		var se *xmpp.StreamError
		if errors.As(err, &se) {
			n.sendHeader(n.srv.cfg.Hosts[0].Domain)
			n.fail(se)
		}
		return false, err
	}
	n.hdr = hdr
	if hdr.Framed != (n.s.ws != nil) {
		n.sendHeader(n.srv.cfg.Hosts[0].Domain)
		return false, n.fail(xmpp.NewStreamError(xmpp.StreamInvalidNamespace, "wrong framing for this transport"))
	}
	domain := strings.ToLower(strings.TrimSuffix(hdr.To, "."))
	if n.s.domain == "" {
		if !n.srv.isLocal(domain) {
			n.sendHeader(n.srv.cfg.Hosts[0].Domain)
			return false, n.fail(xmpp.NewStreamError(xmpp.StreamHostUnknown, "this server does not serve "+hdr.To))
		}
		n.s.domain = domain
	} else if domain != n.s.domain {
		n.sendHeader(n.s.domain)
		return false, n.fail(xmpp.NewStreamError(xmpp.StreamHostUnknown, "the domain changed on restart"))
	}
	n.sendHeader(n.s.domain)
	if n.s.ws != nil && !n.tls {
		return false, n.fail(xmpp.NewStreamError(xmpp.StreamPolicyViolation,
			"plain WebSocket is accepted only from loopback or a trusted proxy: use wss"))
	}
	if err := n.write(n.features()); err != nil {
		return false, err
	}
	for {
		st := xmpp.GetStanza()
		err := n.s.scan.Next(st)
		if err != nil {
			xmpp.PutStanza(st)
			var se *xmpp.StreamError
			if errors.As(err, &se) {
				return false, n.fail(se)
			}
			return false, err
		}
		restart, done, err := n.element(ctx, st)
		xmpp.PutStanza(st)
		if err != nil || restart || done {
			return done, err
		}
	}
}

// element handles one top-level element during negotiation.
func (n *negotiation) element(ctx context.Context, st *xmpp.Stanza) (restart, done bool, err error) {
	switch {
	case !n.authed && st.Space == xmpp.NSTLS && st.Name == "starttls":
		return true, false, n.startTLS(ctx)
	case !n.authed && st.Space == xmpp.NSSASL && st.Name == "auth":
		return n.sasl(ctx, st)
	case !n.authed && st.Kind == xmpp.KindIQ && n.tlsSatisfied():
		return false, false, n.preAuthIQ(ctx, st)
	case n.authed && st.Kind == xmpp.KindIQ && st.Payload.Space == xmpp.NSBind && st.Type == "set":
		bound, err := n.bind(ctx, st)
		return false, bound, err
	case n.authed && st.Kind == xmpp.KindIQ:
		// Anything but bind before binding: RFC 6120 §7.2 lets the server
		// refuse; answer so the client is not left waiting.
		reply := st.Clone()
		if xmpp.ErrorReply(reply, xmpp.NewStanzaError(xmpp.NotAuthorized, "bind a resource first")) {
			reply.From, reply.To = xmpp.JID{}, xmpp.JID{}
			return false, false, n.write(reply.Append(nil, n.s.nsOut))
		}
		return false, false, nil
	}
	if !n.authed && !n.tlsSatisfied() {
		return false, false, n.fail(xmpp.NewStreamError(xmpp.StreamPolicyViolation, "STARTTLS is required on this port"))
	}
	return false, false, n.fail(xmpp.NewStreamError(xmpp.StreamNotAuthorized, "authenticate and bind before sending "+st.Name))
}

func (n *negotiation) tlsSatisfied() bool { return n.tls || !n.requireTLS }

// features builds the stream features for the current stage.
func (n *negotiation) features() []byte {
	var b []byte
	if n.s.ws != nil {
		b = append(b, `<stream:features xmlns:stream="`+xmpp.NSStream+`">`...)
	} else {
		b = append(b, "<stream:features>"...)
	}
	switch {
	case !n.authed && !n.tls && n.s.ws == nil && n.requireTLS:
		b = append(b, `<starttls xmlns="`+xmpp.NSTLS+`"><required/></starttls>`...)
	case !n.authed:
		if !n.tls && n.s.ws == nil {
			b = append(b, `<starttls xmlns="`+xmpp.NSTLS+`"/>`...)
		}
		b = append(b, `<mechanisms xmlns="`+xmpp.NSSASL+`">`...)
		for _, m := range n.srv.mechs {
			if m.Name() == "PLAIN" && !n.tls {
				continue // never offer PLAIN in the clear
			}
			b = append(b, "<mechanism>"+m.Name()+"</mechanism>"...)
		}
		b = append(b, "</mechanisms>"...)
		for _, f := range n.srv.featurers {
			b = f.StreamFeatures(b, n.s.domain, false)
		}
	default:
		b = append(b, `<bind xmlns="`+xmpp.NSBind+`"/>`...)
		b = append(b, `<session xmlns="`+xmpp.NSSession+`"><optional/></session>`...)
		for _, f := range n.srv.featurers {
			b = f.StreamFeatures(b, n.s.domain, true)
		}
	}
	return append(b, "</stream:features>"...)
}

func (n *negotiation) sendHeader(from string) {
	n.streamID = randomID(12) // every stream, restarts included, gets a new id
	var b []byte
	if n.s.ws != nil {
		b = append(b, `<open xmlns="`+xmpp.NSFraming+`" version="1.0" xml:lang="en"`...)
	} else {
		b = append(b, `<?xml version='1.0'?><stream:stream xmlns="jabber:client" xmlns:stream="`+xmpp.NSStream+`" version="1.0" xml:lang="en"`...)
	}
	b = append(b, ` id="`+n.streamID+`" from="`...)
	b = xmpp.AppendEscaped(b, from, true)
	b = append(b, '"')
	if j, err := xmpp.ParseJID(n.hdr.From); err == nil && n.hdr.From != "" {
		b = append(b, ` to="`...)
		b = xmpp.AppendEscaped(b, j.String(), true)
		b = append(b, '"')
	}
	if n.s.ws != nil {
		b = append(b, "/>"...)
	} else {
		b = append(b, '>')
	}
	_ = n.write(b)
}

// write sends one element (or header) during negotiation, synchronously.
func (n *negotiation) write(b []byte) error {
	if n.s.ws != nil {
		return n.s.ws.writeFrames(b, []int{len(b)})
	}
	_, err := n.s.conn.Write(b)
	return err
}

// fail writes a stream error and the stream close, closes the connection
// and returns the error for the caller to log.
func (n *negotiation) fail(e *xmpp.StreamError) error {
	prefix := "stream"
	if n.s.ws != nil {
		prefix = ""
	}
	_ = n.write(e.AppendXML(nil, prefix))
	if n.s.ws != nil {
		_ = n.write([]byte(`<close xmlns="` + xmpp.NSFraming + `"/>`))
	} else {
		_ = n.write([]byte("</stream:stream>"))
	}
	_ = n.s.conn.Close()
	return e
}

func (n *negotiation) startTLS(ctx context.Context) error {
	if n.tls || n.s.ws != nil {
		return n.fail(xmpp.NewStreamError(xmpp.StreamPolicyViolation, "TLS is already in place"))
	}
	if err := n.write([]byte(`<proceed xmlns="` + xmpp.NSTLS + `"/>`)); err != nil {
		return err
	}
	tc := tls.Server(n.s.conn, n.srv.certs.config(n.s.domain, nil))
	hctx, cancel := context.WithTimeout(ctx, n.srv.limits.NegotiationTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = n.s.conn.Close()
		return fmt.Errorf("starttls handshake: %w", err)
	}
	n.s.conn, n.rd.Conn = tc, tc
	n.tls, n.s.secure = true, true
	n.srv.metrics.tlsHandshakes.WithLabelValues(tlsName(tc.ConnectionState())).Inc()
	// RFC 6120 §5.4.3.3: anything buffered before TLS is discarded.
	n.s.scan.Reset(n.rd, false)
	return nil
}

// sasl runs one SASL exchange (RFC 6120 §6.4).
func (n *negotiation) sasl(ctx context.Context, st *xmpp.Stanza) (restart, done bool, err error) {
	if !n.tlsSatisfied() {
		return false, false, n.saslFailure("encryption-required", "STARTTLS first")
	}
	name := st.Attr("mechanism")
	var mech auth.Mechanism
	for _, m := range n.srv.mechs {
		if m.Name() == name && (name != "PLAIN" || n.tls) {
			mech = m
		}
	}
	if mech == nil {
		return false, false, n.saslFailure("invalid-mechanism", "")
	}
	actx := auth.WithRemoteIP(ctx, n.s.remote)
	server := mech.NewServer(n.s.domain, n.tls)
	in, ok := saslData(st.Inner)
	if !ok {
		return false, false, n.saslFailure("incorrect-encoding", "")
	}
	for {
		out, fin, user, err := server.Step(actx, in)
		if err != nil {
			var f *auth.Failure
			if !errors.As(err, &f) {
				n.srv.log.Error("sasl mechanism failed", "mechanism", name, "err", err)
				f = &auth.Failure{Condition: "temporary-auth-failure"}
			}
			n.srv.metrics.authFailures.WithLabelValues(f.Condition).Inc()
			return false, false, n.saslFailure(f.Condition, f.Text)
		}
		if fin {
			if user.Domain() != n.s.domain {
				return false, false, n.saslFailure("not-authorized", "")
			}
			if err := n.write(saslElement("success", out)); err != nil {
				return false, false, err
			}
			n.authed, n.user = true, user.Bare()
			n.s.scan.Reset(n.rd, true) // keep what the client pipelined
			return true, false, nil
		}
		if err := n.write(saslElement("challenge", out)); err != nil {
			return false, false, err
		}
		resp := xmpp.GetStanza()
		err = n.s.scan.Next(resp)
		switch {
		case err != nil:
			xmpp.PutStanza(resp)
			var se *xmpp.StreamError
			if errors.As(err, &se) {
				return false, false, n.fail(se)
			}
			return false, false, err
		case resp.Space == xmpp.NSSASL && resp.Name == "abort":
			xmpp.PutStanza(resp)
			return false, false, n.saslFailure("aborted", "")
		case resp.Space != xmpp.NSSASL || resp.Name != "response":
			xmpp.PutStanza(resp)
			return false, false, n.saslFailure("malformed-request", "expected <response/>")
		}
		in, ok = saslData(resp.Inner)
		xmpp.PutStanza(resp)
		if !ok {
			return false, false, n.saslFailure("incorrect-encoding", "")
		}
	}
}

func (n *negotiation) saslFailure(cond, text string) error {
	b := []byte(`<failure xmlns="` + xmpp.NSSASL + `"><` + cond + `/>`)
	if text != "" {
		b = append(b, `<text xml:lang="en">`...)
		b = xmpp.AppendEscaped(b, text, false)
		b = append(b, "</text>"...)
	}
	if err := n.write(append(b, "</failure>"...)); err != nil {
		return err
	}
	n.failures++
	if n.failures >= maxAuthFailures {
		return n.fail(xmpp.NewStreamError(xmpp.StreamPolicyViolation, "too many failed authentication attempts"))
	}
	return nil
}

// saslData decodes the base64 content of an auth or response element;
// "=" is an empty response (RFC 6120 §6.4.2).
func saslData(inner []byte) ([]byte, bool) {
	txt := bytes.TrimSpace(inner)
	if len(txt) == 0 {
		return nil, true
	}
	if len(txt) == 1 && txt[0] == '=' {
		return []byte{}, true
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(txt)))
	k, err := base64.StdEncoding.Decode(out, txt)
	if err != nil {
		return nil, false
	}
	return out[:k], true
}

// saslElement builds <challenge/> or <success/>. No data gives an empty
// element (RFC 6120 §6.4.3, §6.4.6: PLAIN's success carries none); "=",
// which means zero-length data, is only for a client's empty response.
func saslElement(name string, data []byte) []byte {
	if len(data) == 0 {
		return []byte("<" + name + ` xmlns="` + xmpp.NSSASL + `"/>`)
	}
	b := []byte("<" + name + ` xmlns="` + xmpp.NSSASL + `">`)
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, "</"+name+">"...)
}

// preAuthIQ answers an IQ sent before authentication (in-band
// registration) through the pre-auth handlers.
func (n *negotiation) preAuthIQ(ctx context.Context, st *xmpp.Stanza) error {
	st.From = xmpp.JID{}
	st.To = xmpp.MustParseJID(n.s.domain)
	var res []byte
	var err error
	if h := n.srv.preAuthIQ[st.Payload.Space]; h != nil && (st.Type == "get" || st.Type == "set") {
		res, err = h(modules.WithRemoteAddr(auth.WithRemoteIP(ctx, n.s.remote), n.s.remote), st)
	} else if st.Type == "get" || st.Type == "set" {
		err = xmpp.NewStanzaError(xmpp.ServiceUnavailable, "authenticate first")
	} else {
		return nil
	}
	if err != nil {
		var se *xmpp.StanzaError
		if !errors.As(err, &se) {
			n.srv.log.Error("pre-auth iq handler failed", "ns", st.Payload.Space, "err", err)
			se = xmpp.NewStanzaError(xmpp.InternalServerError, "")
		}
		if !xmpp.ErrorReply(st, se) {
			return nil
		}
		st.From, st.To = xmpp.JID{}, xmpp.JID{}
		return n.write(st.Append(nil, n.s.nsOut))
	}
	reply := xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: st.ID, Type: "result", Inner: res}
	return n.write(reply.Append(nil, n.s.nsOut))
}

// bind binds a resource (RFC 6120 §7) and starts the session. It reports
// whether a resource was bound; a refused bind leaves the stream open for
// another attempt.
func (n *negotiation) bind(ctx context.Context, st *xmpp.Stanza) (bool, error) {
	var req struct {
		Resource string `xml:"resource"`
	}
	if err := st.UnmarshalPayload(&req); err != nil {
		return false, n.bindError(st, xmpp.NewStanzaError(xmpp.BadRequest, "bad bind request"))
	}
	res := strings.TrimSpace(req.Resource)
	policy := n.srv.hosts[n.s.domain].ResourceConflict
	if res == "" {
		res = randomID(8)
	}
	full, err := n.user.WithResource(res)
	if err != nil {
		return false, n.bindError(st, xmpp.NewStanzaError(xmpp.BadRequest, "invalid resource"))
	}
	s := n.s
	s.jid = full
	s.log = s.log.With("jid", full.String())
	bp := bindReplace
	if policy == "refuse" {
		bp = bindRefuse
	}
	old, ok := n.srv.router.bind(s, bp)
	if !ok && policy == "rename" {
		full, _ = n.user.WithResource(res + "-" + randomID(4))
		s.jid = full
		old, ok = n.srv.router.bind(s, bindRefuse)
	}
	if !ok {
		s.jid = xmpp.JID{}
		return false, n.bindError(st, xmpp.NewStanzaError(xmpp.Conflict, "resource in use"))
	}
	if old != nil {
		old.close(xmpp.NewStreamError(xmpp.StreamConflict, "replaced by a new connection"))
	}
	s.mu.Lock()
	s.bound = true
	s.mu.Unlock()
	n.srv.metrics.sessions.Inc()
	n.srv.metrics.logins.Inc()

	var b []byte
	reply := xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: st.ID, Type: "result"}
	reply.Inner = append(reply.Inner, `<bind xmlns="`+xmpp.NSBind+`"><jid>`...)
	reply.Inner = xmpp.AppendEscaped(reply.Inner, full.String(), false)
	reply.Inner = append(reply.Inner, "</jid></bind>"...)
	b = reply.Append(b, s.nsOut)
	if err := n.write(b); err != nil {
		return true, err
	}
	for _, o := range n.srv.sessObs {
		o.SessionBound(ctx, s)
	}
	// From here on, reads extend an idle deadline instead of the
	// negotiation's absolute one.
	_ = s.conn.SetDeadline(time.Time{})
	n.rd.idle = n.srv.limits.IdleTimeout
	s.rate = newBucket(n.srv.cfg.Limits.Stanzas.Rate, n.srv.cfg.Limits.Stanzas.Burst)
	s.log.Info("session bound", "tls", n.tls)
	go s.readLoop(n.srv.ctx)
	return true, nil
}

func (n *negotiation) bindError(st *xmpp.Stanza, e *xmpp.StanzaError) error {
	reply := st.Clone()
	if xmpp.ErrorReply(reply, e) {
		reply.From, reply.To = xmpp.JID{}, xmpp.JID{}
		if err := n.write(reply.Append(nil, n.s.nsOut)); err != nil {
			return err
		}
	}
	return nil
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tlsName(cs tls.ConnectionState) string {
	return tls.VersionName(cs.Version) + " " + tls.CurveID(cs.CurveID).String()
}
