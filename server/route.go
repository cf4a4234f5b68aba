package server

import (
	"context"
	"errors"
	"sync"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

type senderKey struct{}

// withSender marks ctx as running on sess's reader goroutine, so deliveries
// join its read batch (one flush per recipient per batch) instead of
// starting a writer per stanza.
func withSender(ctx context.Context, sess *session) context.Context {
	return context.WithValue(ctx, senderKey{}, sess)
}

func senderOf(ctx context.Context) *session {
	s, _ := ctx.Value(senderKey{}).(*session)
	return s
}

// handle processes one stanza read from a bound session.
func (s *session) handle(ctx context.Context, st *xmpp.Stanza) {
	if st.Kind == xmpp.KindOther {
		// Nonzas this server does not negotiate (stream management and
		// CSI come with issue 4) end the stream, as RFC 6120 §4.9.3.23
		// requires for unknown first-level elements.
		s.close(xmpp.NewStreamError(xmpp.StreamUnsupportedStanzaType,
			"unsupported element {"+st.Space+"}"+st.Name))
		return
	}
	// RFC 6120 §8.1.2.1: the server stamps 'from'; a 'from' that is not
	// the session's own address ends the stream.
	if !st.From.IsZero() && st.From != s.jid && st.From != s.jid.Bare() {
		s.close(xmpp.NewStreamError(xmpp.StreamInvalidFrom, "'from' is not the bound JID"))
		return
	}
	st.From = s.jid
	ctx = withSender(ctx, s)
	if err := s.srv.inbound.HandleStanza(ctx, st); err != nil {
		s.srv.fail(ctx, st, err)
	}
}

// bounce answers st with e, back to its sender.
func (s *session) bounce(ctx context.Context, st *xmpp.Stanza, e *xmpp.StanzaError) {
	if st.From.IsZero() {
		st.From = s.jid
	}
	s.srv.fail(withSender(ctx, s), st, e)
}

// fail answers st with an error reply derived from err: a *xmpp.StanzaError
// as it is, anything else as internal-server-error (and logged).
func (srv *Server) fail(ctx context.Context, st *xmpp.Stanza, err error) {
	var se *xmpp.StanzaError
	if !errors.As(err, &se) {
		srv.log.Error("stanza handler failed", "kind", st.Kind, "payload", st.Payload.Space, "err", err)
		se = xmpp.NewStanzaError(xmpp.InternalServerError, "")
	}
	if !xmpp.ErrorReply(st, se) {
		return
	}
	srv.deliverReply(ctx, st)
}

// deliverReply sends a server-generated reply (an IQ result, an error
// bounce) to a local full JID, or to the IQ tracker when it is addressed to
// the server itself. Replies skip the Deliver chain: they are the server's
// answer to the recipient's own stanza, so no policy about the address they
// carry in 'from' applies (a bounce for a message to a blocked contact must
// reach the user who blocked it).
func (srv *Server) deliverReply(ctx context.Context, st *xmpp.Stanza) {
	if st.To.IsZero() || st.To.Local() == "" {
		if st.Kind == xmpp.KindIQ {
			srv.iqs.resolve(st)
		}
		return
	}
	if !srv.isLocal(st.To.Domain()) {
		return
	}
	if st.To.IsBare() {
		// Replies normally go to a full JID; a bare one (a module's
		// Route from an account) goes to every available session.
		for _, r := range srv.router.resources(st.To) {
			_ = srv.enqueueEnd(modules.WithTarget(ctx, r), st)
		}
		return
	}
	if r := srv.router.session(st.To); r != nil {
		_ = srv.enqueueEnd(modules.WithTarget(ctx, r), st)
	}
}

// route is the end of the Inbound chain, and Host.Route: it applies the
// routing rules of RFC 6120 §10 and RFC 6121 §8 to a stanza whose 'from' is
// a local user or domain.
func (srv *Server) route(ctx context.Context, st *xmpp.Stanza) error {
	to := st.To
	if to.IsZero() {
		switch st.Kind {
		case xmpp.KindPresence:
			return nil // broadcast presence: the presence module did it
		case xmpp.KindIQ:
			return srv.serverIQ(ctx, st)
		}
		// RFC 6121 §8.1.1.1: a message with no 'to' is for the sender's
		// own bare JID.
		to = st.From.Bare()
	}
	if !srv.isLocal(to.Domain()) {
		return xmpp.NewStanzaError(xmpp.RemoteServerNotFound,
			"federation with "+to.Domain()+" is not available on this server")
	}
	if err := srv.checkBorder(st.From, to); err != nil {
		return err
	}
	if to.Local() == "" {
		return srv.toDomain(ctx, st, to)
	}
	switch st.Kind {
	case xmpp.KindIQ:
		if to.IsBare() {
			return srv.serverIQ(ctx, st)
		}
		if r := srv.router.session(to); r != nil {
			srv.deliver(ctx, r, st)
			return nil
		}
		if st.Type == "result" || st.Type == "error" {
			return nil
		}
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	case xmpp.KindPresence:
		return srv.routePresence(ctx, st, to)
	default:
		return srv.routeMessage(ctx, st, to)
	}
}

// toDomain handles stanzas addressed to a local domain (or one of its
// resources): IQs go to the server's handlers, the rest has no taker.
func (srv *Server) toDomain(ctx context.Context, st *xmpp.Stanza, to xmpp.JID) error {
	switch {
	case st.Kind == xmpp.KindIQ && to.IsBare():
		return srv.serverIQ(ctx, st)
	case st.Kind == xmpp.KindIQ && (st.Type == "result" || st.Type == "error"):
		srv.iqs.resolve(st)
		return nil
	case st.Kind == xmpp.KindIQ:
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	case st.Kind == xmpp.KindMessage && (st.Type == "" || st.Type == "normal" || st.Type == "chat"):
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "the server does not take messages")
	}
	return nil // presence and other messages to the server are ignored
}

// routeMessage applies RFC 6121 §8.5.
func (srv *Server) routeMessage(ctx context.Context, st *xmpp.Stanza, to xmpp.JID) error {
	if !to.IsBare() {
		if r := srv.router.session(to); r != nil {
			srv.deliver(ctx, r, st)
			return nil
		}
		// §8.5.3.2.1: no such resource — treat as addressed to the
		// bare JID, except groupchat (error) and error (dropped).
		switch st.Type {
		case "error":
			return nil
		case "groupchat":
			return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
		}
	}
	bare := to.Bare()
	sessions := srv.router.resources(bare)
	switch st.Type {
	case "error":
		return nil
	case "groupchat":
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	case "headline":
		for _, r := range sessions {
			if r.Available() && r.Priority() >= 0 {
				srv.deliver(ctx, r, st)
			}
		}
		return nil
	case "chat":
		n := 0
		for _, r := range sessions {
			if r.Available() && r.Priority() >= 0 {
				srv.deliver(ctx, r, st)
				n++
			}
		}
		if n > 0 {
			return nil
		}
	default: // normal: the highest-priority non-negative resources
		best := int8(-1)
		for _, r := range sessions {
			if p := r.Priority(); r.Available() && p > best {
				best = p
			}
		}
		if best >= 0 {
			for _, r := range sessions {
				if r.Available() && r.Priority() == best {
					srv.deliver(ctx, r, st)
				}
			}
			return nil
		}
	}
	return srv.unrouted(ctx, st, bare)
}

// unrouted hands a message for an account with no receiving session to the
// Unrouted chain (offline storage), after checking the account exists.
func (srv *Server) unrouted(ctx context.Context, st *xmpp.Stanza, bare xmpp.JID) error {
	ok, err := srv.accounts.Exists(ctx, bare)
	if err != nil {
		return err
	}
	if !ok {
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	return srv.unroutedChain.HandleStanza(ctx, st)
}

// routePresence delivers presence the presence module passed on (directed
// presence to a session, errors): to a full JID's session or to every
// available session of a bare JID.
func (srv *Server) routePresence(ctx context.Context, st *xmpp.Stanza, to xmpp.JID) error {
	if !to.IsBare() {
		if r := srv.router.session(to); r != nil {
			srv.deliver(ctx, r, st)
		}
		return nil
	}
	for _, r := range srv.router.resources(to) {
		if r.Available() {
			srv.deliver(ctx, r, st)
		}
	}
	return nil
}

// checkBorder refuses stanzas crossing into or out of an isolated domain.
func (srv *Server) checkBorder(from, to xmpp.JID) error {
	fd, td := from.Domain(), to.Domain()
	if from.IsZero() || fd == td {
		return nil
	}
	if srv.hosts[fd].Isolated || srv.hosts[td].Isolated {
		return xmpp.NewStanzaError(xmpp.NotAllowed,
			"domains "+fd+" and "+td+" are isolated from each other")
	}
	return nil
}

// serverIQ dispatches an IQ addressed to the server or to an account by its
// payload namespace (RFC 6120 §10.3.3, §8.4).
func (srv *Server) serverIQ(ctx context.Context, st *xmpp.Stanza) error {
	switch st.Type {
	case "result", "error":
		srv.iqs.resolve(st)
		return nil
	case "get", "set":
	default:
		return xmpp.NewStanzaError(xmpp.BadRequest, "iq type must be get, set, result or error")
	}
	if st.Payload.Local == "" {
		return xmpp.NewStanzaError(xmpp.BadRequest, "iq get or set needs a payload")
	}
	h := srv.iqHandlers[st.Payload.Space]
	if h == nil {
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	res, err := h(ctx, st)
	if errors.Is(err, modules.ErrNoReply) {
		return nil
	}
	if err != nil {
		return err
	}
	srv.replyIQ(ctx, st, res)
	return nil
}

// replyIQ answers req with a result carrying payload. The reply is 'from'
// the address the request was sent to; a request without 'to' (handled on
// behalf of the account) gets a reply without 'from' (RFC 6120 §8.1.2.1).
func (srv *Server) replyIQ(ctx context.Context, req *xmpp.Stanza, payload []byte) {
	reply := xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient,
		ID: req.ID, Type: "result", From: req.To, To: req.From, Inner: payload,
	}
	srv.deliverReply(ctx, &reply)
}

// deliver runs the Deliver chain for one recipient session; its end queues
// the encoded stanza.
func (srv *Server) deliver(ctx context.Context, to *session, st *xmpp.Stanza) {
	ctx = modules.WithTarget(ctx, to)
	if err := srv.deliverChain.HandleStanza(ctx, st); err != nil {
		var se *xmpp.StanzaError
		if errors.As(err, &se) && st.Kind == xmpp.KindIQ && (st.Type == "get" || st.Type == "set") {
			// A Deliver-stage refusal of a request (e.g. blocking) is
			// answered to the requester.
			reply := st.Clone()
			if xmpp.ErrorReply(reply, se) {
				srv.deliverReply(ctx, reply)
			}
			return
		}
		if !errors.As(err, &se) {
			srv.log.Error("deliver handler failed", "to", to.jid, "err", err)
		}
	}
}

// enqueueEnd is the end of the Deliver chain: encode and queue.
func (srv *Server) enqueueEnd(ctx context.Context, st *xmpp.Stanza) error {
	to, _ := modules.Target(ctx).(*session)
	if to == nil {
		return nil
	}
	buf := bufPool.Get().(*[]byte)
	*buf = st.Append((*buf)[:0], to.nsOut)
	ok := to.enqueue(*buf)
	if cap(*buf) <= 64<<10 {
		bufPool.Put(buf)
	}
	if !ok {
		return nil
	}
	srv.metrics.stanzasOut.WithLabelValues(st.Kind.String()).Inc()
	if sender := senderOf(ctx); sender == nil || !sender.batch.add(to) {
		to.kick()
	}
	return nil
}

// bufPool holds scratch buffers for encoding a stanza before it is copied
// into a recipient's queue.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
