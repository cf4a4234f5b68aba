package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
	"github.com/parley-im/parley/xmpp/xmlscan"
)

// session is one client connection, from accept to close.
//
// Goroutines: the reader goroutine owns the scanner, the rate bucket and
// pending; a writer goroutine runs only while there is output (started by
// kick, exiting when out is empty), so an idle session holds no writer and
// no output buffer. Every other field is guarded by mu.
type session struct {
	srv    *Server
	conn   net.Conn // after TLS, if any
	ws     *wsConn  // RFC 7395 framing: one element per WebSocket message
	scan   *xmlscan.Scanner
	log    *slog.Logger
	remote netip.Addr
	secure bool
	domain string
	jid    xmpp.JID // set once bound
	nsOut  string   // default namespace of what we write: "jabber:client", "" when framed

	// Reader goroutine only.
	rate  bucket
	batch batch // recipients with output queued during this read batch

	mu         sync.Mutex
	out        []byte
	frames     []int // framed: end offset of each element in out
	writing    bool
	closing    bool // no more output is accepted; the conn closes after flushing
	bound      bool
	presence   *xmpp.Stanza
	priority   int8
	interested bool
	values     map[string]any

	done     chan struct{} // closed when the conn is closed
	doneOnce sync.Once
	released func() // gives back the connection's slot; set by serveStream
}

// enqueue appends an encoded element to the output. It reports false when
// the session is closing. A session whose queue exceeds the configured
// bound is a slow consumer: it is closed with a policy-violation.
func (s *session) enqueue(b []byte) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.out = append(s.out, b...)
	if s.ws != nil {
		s.frames = append(s.frames, len(s.out))
	}
	slow := len(s.out) > s.srv.limits.OutboundQueueBytes
	s.mu.Unlock()
	s.srv.metrics.outboundBytes.Add(float64(len(b)))
	if slow {
		s.srv.metrics.slowConsumers.Inc()
		s.log.Warn("slow consumer: output queue over limit", "limit", s.srv.limits.OutboundQueueBytes)
		s.close(xmpp.NewStreamError(xmpp.StreamPolicyViolation, "too much unread output"))
		return false
	}
	return true
}

// kick makes sure a writer goroutine is running if there is output.
func (s *session) kick() {
	s.mu.Lock()
	if s.writing || len(s.out) == 0 {
		s.mu.Unlock()
		return
	}
	s.writing = true
	s.mu.Unlock()
	go s.writeLoop()
}

// writeLoop writes queued output until there is none, then exits. Each
// round takes everything queued and writes it with one Write (one TLS record
// per 16 KiB, not one per stanza; DESIGN §9: writev does nothing over TLS).
func (s *session) writeLoop() {
	for {
		s.mu.Lock()
		if len(s.out) == 0 {
			s.writing = false
			closing := s.closing
			s.out, s.frames = nil, nil // release buffers while idle
			s.mu.Unlock()
			if closing {
				s.closeConn()
			}
			return
		}
		buf, frames := s.out, s.frames
		s.out, s.frames = nil, nil
		s.mu.Unlock()

		s.srv.metrics.outboundBytes.Sub(float64(len(buf)))
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.writeTimeout))
		var err error
		if s.ws != nil {
			err = s.ws.writeFrames(buf, frames)
		} else {
			_, err = s.conn.Write(buf)
		}
		if err != nil {
			s.mu.Lock()
			s.closing, s.writing = true, false
			s.out, s.frames = nil, nil
			s.mu.Unlock()
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("write failed", "err", err)
			}
			s.closeConn()
			return
		}
	}
}

// close ends the session: the stream error (if any) and the stream close are
// queued behind pending output, and the connection is closed once written.
func (s *session) close(e *xmpp.StreamError) {
	var b []byte
	if e != nil {
		if s.ws != nil {
			b = e.AppendXML(b, "")
		} else {
			b = e.AppendXML(b, "stream")
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if e != nil {
		s.out = append(s.out, b...)
		if s.ws != nil {
			s.frames = append(s.frames, len(s.out))
		}
	}
	if s.ws != nil {
		s.out = append(s.out, `<close xmlns="`+xmpp.NSFraming+`"/>`...)
		s.frames = append(s.frames, len(s.out))
	} else {
		s.out = append(s.out, "</stream:stream>"...)
	}
	s.closing = true
	s.mu.Unlock()
	s.kick()
	// A peer that never reads must not keep the connection open.
	time.AfterFunc(s.srv.writeTimeout, s.closeConn)
}

func (s *session) closeConn() {
	s.doneOnce.Do(func() {
		_ = s.conn.Close()
		close(s.done)
		if s.released != nil {
			s.released()
		}
	})
}

// batch collects the recipients a reader queued output for while it works
// through the input of one read, so that a burst of stanzas from one client
// becomes one write per recipient (NATS's pending-client flush). A delivery
// made while the batch is not open (from another goroutine, or after the
// reader went back to reading) starts the recipient's writer at once.
type batch struct {
	mu   sync.Mutex
	open bool
	list []*session
}

// begin opens the batch; the reader calls it before handling input.
func (b *batch) begin() {
	b.mu.Lock()
	b.open = true
	b.mu.Unlock()
}

// add records r for the flush and reports false if the batch is closed.
func (b *batch) add(r *session) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return false
	}
	for _, p := range b.list {
		if p == r {
			return true
		}
	}
	b.list = append(b.list, r)
	return true
}

// end closes the batch and starts the writers of everyone in it.
func (b *batch) end() {
	b.mu.Lock()
	list := b.list
	b.list, b.open = nil, false
	b.mu.Unlock()
	for _, r := range list {
		r.kick()
	}
}

// modules.Session

func (s *session) JID() xmpp.JID { return s.jid }

func (s *session) Available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence != nil
}

func (s *session) Priority() int8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.priority
}

func (s *session) Presence() *xmpp.Stanza {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence
}

func (s *session) Interested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interested
}

func (s *session) SetAvailable(p *xmpp.Stanza) {
	var prio int8
	if p != nil {
		p = p.Clone()
		prio = presencePriority(p)
	}
	s.mu.Lock()
	s.presence, s.priority = p, prio
	s.mu.Unlock()
}

func (s *session) SetInterested() {
	s.mu.Lock()
	s.interested = true
	s.mu.Unlock()
}

func (s *session) Close(cond xmpp.StreamCondition, text string) {
	s.close(xmpp.NewStreamError(cond, text))
}

func (s *session) Value(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key]
}

func (s *session) SetValue(key string, v any) {
	s.mu.Lock()
	if s.values == nil {
		s.values = map[string]any{}
	}
	s.values[key] = v
	s.mu.Unlock()
}

// presencePriority reads <priority/> (RFC 6121 §4.7.2.3), 0 when absent or
// out of range.
func presencePriority(p *xmpp.Stanza) int8 {
	txt, ok := p.ChildText(xmpp.NSClient, "priority")
	if !ok {
		return 0
	}
	n, neg := 0, false
	for i, c := range []byte(txt) {
		switch {
		case i == 0 && (c == '-' || c == '+'):
			neg = c == '-'
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
			if n > 128 {
				return 0
			}
		default:
			return 0
		}
	}
	if neg {
		n = -n
	}
	if n < -128 || n > 127 {
		return 0
	}
	return int8(n)
}

// readLoop reads and handles stanzas until the stream ends. It runs on its
// own goroutine, started after negotiation so the negotiation goroutine's
// grown stack (TLS handshake, SASL) is not kept for the session's life.
func (s *session) readLoop(ctx context.Context) {
	defer s.finish(ctx)
	st := xmpp.GetStanza()
	defer xmpp.PutStanza(st)
	for {
		err := s.scan.Next(st)
		if err != nil {
			var se *xmpp.StanzaError
			if errors.As(err, &se) {
				// Well-formed but unroutable (a malformed JID): answer
				// it and carry on with the stream.
				s.batch.begin()
				s.bounce(ctx, st, se)
				s.afterStanza()
				continue
			}
			s.endStream(err)
			return
		}
		s.batch.begin()
		s.srv.metrics.stanzasIn.WithLabelValues(st.Kind.String()).Inc()
		if wait := s.rate.take(time.Now()); wait > 0 {
			// Over the stanza rate: stall this reader (TCP pushes back on
			// the client) instead of dropping anything.
			s.batch.end()
			time.Sleep(wait)
		}
		s.handle(ctx, st)
		s.afterStanza()
	}
}

// afterStanza flushes recipients once the reader has consumed everything the
// last read returned, and releases the read buffer when idle.
func (s *session) afterStanza() {
	if s.scan.Buffered() == 0 {
		s.batch.end()
		s.scan.Shrink()
	}
}

// endStream handles the reader's final error.
func (s *session) endStream(err error) {
	var streamErr *xmpp.StreamError
	switch {
	case errors.Is(err, io.EOF):
		s.close(nil) // the client closed its stream: close ours
	case errors.As(err, &streamErr):
		s.log.Info("stream error", "condition", streamErr.Condition, "text", streamErr.Text)
		s.close(streamErr)
	case errors.Is(err, os.ErrDeadlineExceeded): // the idle deadline of deadlineConn
		s.close(xmpp.NewStreamError(xmpp.StreamConnectionTimeout, "idle timeout"))
	default:
		s.log.Debug("read ended", "err", err)
		s.close(nil)
		s.closeConn()
	}
}

// finish unbinds the session and tells the modules, exactly once, after
// the reader has stopped.
func (s *session) finish(ctx context.Context) {
	s.batch.end()
	s.mu.Lock()
	bound := s.bound
	s.bound = false
	s.mu.Unlock()
	if bound {
		s.srv.router.unbind(s)
		for _, o := range s.srv.sessObs {
			o.SessionClosed(ctx, s)
		}
		s.srv.metrics.sessions.Dec()
	}
	select {
	case <-s.done:
	case <-time.After(s.srv.writeTimeout):
		s.closeConn()
	}
}

// deadlineConn is what a session's scanner reads from. Once the session
// is bound (idle > 0) it extends the read deadline before every read, so
// any input — a stanza or a whitespace keepalive — keeps an idle connection
// alive; during negotiation the connection's absolute deadline applies.
type deadlineConn struct {
	net.Conn
	idle time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(p)
}

var _ modules.Session = (*session)(nil)
