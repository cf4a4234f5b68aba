// Package xmlscan reads an XMPP XML stream (RFC 6120 §4 and §11, and the
// RFC 7395 WebSocket framing) into xmpp.Stanzas without encoding/xml.
//
// It is Parley's hot path and its first line of defence against hostile
// input. A Scanner reads the stream header, then one top-level element per
// call to Next: it parses the routing header (name, namespace, to, from,
// id, type, xml:lang, the first child's name) and validates the content
// against XML 1.0, Namespaces in XML and the restrictions of RFC 6120 §11
// (no comments, processing instructions, DTDs or entity references other
// than the predefined ones), then copies the content as it came. Content a
// Scanner accepts can be forwarded into any other stream: it is well-formed,
// and prefixes declared on the sender's stream header are re-declared in
// Stanza.Attrs.
//
// A Scanner keeps one read buffer. It starts at 512 bytes, grows as far as
// one top-level element needs (up to Limits.MaxStanza), shrinks back once a
// large element has been consumed, and can be dropped while the stream is
// idle (Shrink). Steady-state scanning allocates only the strings of a
// stanza that are new (its id, addresses not seen recently) and whatever
// st.Inner and st.Attrs need to grow.
//
// Errors: Next and ReadHeader return *xmpp.StreamError for anything that
// must end the stream, *xmpp.StanzaError (jid-malformed) for a well-formed
// element with a bad address (the stream may go on), io.EOF at the end of the
// stream, io.ErrUnexpectedEOF when the input ends early, and the reader's
// own errors (wrapped) otherwise.
package xmlscan

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/parley-im/parley/xmpp"
)

// Limits bound what one top-level element may cost. Zero fields take the
// defaults.
type Limits struct {
	MaxStanza   int // bytes of one top-level element incl. tags; default 256 KiB
	MaxDepth    int // element nesting inside a top-level element; default 64
	MaxAttrs    int // attributes per element; default 64
	MaxElements int // elements inside one top-level element (over-wide/over-many); default 10000
}

// The default limits.
const (
	DefaultMaxStanza   = 256 << 10
	DefaultMaxDepth    = 64
	DefaultMaxAttrs    = 64
	DefaultMaxElements = 10000
)

// Buffer sizes.
const (
	minBuf    = 512      // a new or shrunk buffer
	readBuf   = 4096     // a busy stream's buffer grows to this for fewer reads
	bigBuf    = 8 * 1024 // above this a buffer is shrunk as soon as it empties
	maxHeader = 16 << 10 // prolog and stream header together
)

func (l Limits) withDefaults() Limits {
	if l.MaxStanza <= 0 {
		l.MaxStanza = DefaultMaxStanza
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultMaxAttrs
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	return l
}

// errNoHeader is returned by Next before a header was read.
var errNoHeader = errors.New("xmlscan: Next called before ReadHeader")

// Scanner reads one XML stream. It is not safe for concurrent use.
type Scanner struct {
	rd   io.Reader
	lim  Limits
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	rerr error // read error to report once buffered bytes are used up

	pooled *[]byte // buf came from smallBufs (until it is replaced)
	shorts int     // consecutive reads that filled less than half the buffer
	filled bool    // the last read filled the buffer

	err     error // sticky error ending the stream
	open    bool  // a header has been read
	closed  bool  // the stream has ended; Next returns io.EOF
	framing bool  // a partial element is being followed by fr
	fr      framer

	hdr        Header
	qname      []byte       // qualified name of the stream element, for its end tag
	hdrNS      []hdrBinding // prefixes declared on the stream header (TCP mode)
	hdrDefault []byte       // default namespace of the stream (TCP mode)

	// Per-element scratch space, reused.
	attrs    []rawAttr
	topAttrs []rawAttr
	ns       []binding
	stack    []frame
	inserts  []int
	arena    []byte
	innerNS  []byte
	rewrite  bool
	maxAttrs int

	in   interner
	jids jidCache
}

// hdrBinding is a prefix declared on the stream header.
type hdrBinding struct {
	prefix   string
	uri      string
	uriBytes []byte
	decl     string // "xmlns:" + prefix
	used     bool   // the element being parsed uses it
}

// New returns a Scanner reading from r.
func New(r io.Reader, lim Limits) *Scanner {
	return &Scanner{rd: r, lim: lim.withDefaults()}
}

// Reset prepares s for a stream restart (RFC 6120 §4.3.3): the next call
// must be ReadHeader. After STARTTLS, r is the TLS connection and
// keepBuffered false: bytes read before TLS must not be trusted. After SASL
// success, r is the same reader and keepBuffered true, so a header and
// stanzas the client pipelined behind its last SASL message are kept.
func (s *Scanner) Reset(r io.Reader, keepBuffered bool) {
	s.rd = r
	if !keepBuffered {
		s.r, s.w = 0, 0
		s.rerr = nil
	}
	s.err = nil
	s.open, s.closed, s.framing = false, false, false
}

// Buffered returns the number of bytes read from the reader and not yet
// consumed.
func (s *Scanner) Buffered() int { return s.w - s.r }

// Shrink releases the read buffer if it holds nothing, so an idle stream
// costs no buffer memory. The next read allocates a small one again.
//
// Small buffers go back to a pool shared by all scanners, so a session that
// calls Shrink whenever it has consumed everything (and is about to block
// in Read) costs no allocation per read.
func (s *Scanner) Shrink() {
	if s.r != s.w || s.buf == nil {
		return
	}
	if s.pooled != nil && len(s.buf) == minBuf && &s.buf[0] == &(*s.pooled)[0] {
		smallBufs.Put(s.pooled)
	}
	s.buf, s.pooled, s.r, s.w = nil, nil, 0, 0
	s.dropScratch()
}

// smallBufs holds minBuf-byte buffers given up by idle scanners.
var smallBufs = sync.Pool{New: func() any {
	b := make([]byte, minBuf)
	return &b
}}

// fail records err as the end of the stream and returns what the caller
// should see.
func (s *Scanner) fail(err error) error {
	err = streamError(err)
	s.err = err
	return err
}

// Next reads the next top-level element into st, which it resets first.
// Whitespace between elements (keepalives) is skipped. At the end of the
// stream (</stream:stream>, or <close/> with RFC 7395 framing) it returns
// io.EOF.
func (s *Scanner) Next(st *xmpp.Stanza) error {
	if s.err != nil {
		return s.err
	}
	if !s.open {
		return errNoHeader
	}
	for {
		if s.closed {
			return io.EOF
		}
		n, err := s.element(st)
		switch {
		case err == nil:
			s.consume(n)
			if s.hdr.Framed && st.Name == "close" && st.Space == xmpp.NSFraming {
				s.closed = true
				return io.EOF
			}
			return nil
		case err == io.EOF:
			s.consume(n)
			s.closed = true
			return io.EOF
		case err != errShort:
			var se *xmpp.StanzaError
			if errors.As(err, &se) {
				s.consume(n)
				return err
			}
			return s.fail(err)
		}
		if err := s.fill(); err != nil {
			return s.readFailed(err, st)
		}
	}
}

// readFailed handles a read error in the middle of Next.
func (s *Scanner) readFailed(err error, st *xmpp.Stanza) error {
	if err != io.EOF {
		return fmt.Errorf("xmlscan: %w", err)
	}
	// The input ended: an error in the part of an element at hand takes
	// precedence. (Other partial constructs, such as a cut end tag, have
	// been checked as far as they go.)
	if b := s.buf[s.r:s.w]; s.framing && len(b) > 0 {
		s.framing = false
		if _, perr := s.parse(b[:min(len(b), s.lim.MaxStanza)], st); perr != errShort && perr != nil {
			var se *xmpp.StanzaError
			if !errors.As(perr, &se) {
				return s.fail(perr)
			}
		}
	}
	s.err = io.ErrUnexpectedEOF
	return s.err
}

// element scans what follows at the top level. It returns the length of a
// complete element, errShort when more input is needed, or io.EOF with the
// length of the stream's end tag.
func (s *Scanner) element(st *xmpp.Stanza) (int, error) {
	if s.framing {
		return s.follow(st)
	}
	for s.r < s.w && isSpace(s.buf[s.r]) {
		s.r++
	}
	if s.r == s.w {
		s.r, s.w = 0, 0
		return 0, errShort
	}
	b := s.buf[s.r:s.w]
	if b[0] != '<' {
		return 0, errTopText
	}
	if len(b) < 2 {
		return 0, errShort
	}
	switch b[1] {
	case '/':
		if s.hdr.Framed {
			return 0, errSyntax
		}
		return s.endStream(b)
	case '?':
		return 0, errPI
	case '!':
		if _, err := s.cdata(b); err != nil {
			return 0, err
		}
		return 0, errTopText
	}
	lim := min(len(b), s.lim.MaxStanza)
	n, err := s.parse(b[:lim], st)
	if err != errShort {
		return n, err
	}
	if lim == s.lim.MaxStanza {
		return 0, errTooBig
	}
	s.framing = true
	s.fr.reset()
	return 0, errShort
}

// follow continues an element that did not arrive in one piece.
func (s *Scanner) follow(st *xmpp.Stanza) (int, error) {
	b := s.buf[s.r:s.w]
	lim := min(len(b), s.lim.MaxStanza)
	res := s.fr.run(b[:lim], &s.lim)
	if res == frameMore && lim < s.lim.MaxStanza {
		return 0, errShort
	}
	s.framing = false
	n, err := s.parse(b[:lim], st)
	switch {
	case err != errShort:
		return n, err
	case res == frameMore:
		return 0, errTooBig
	}
	return 0, errFraming
}

// endStream checks the stream's end tag at b[0:2] == "</".
func (s *Scanner) endStream(b []byte) (int, error) {
	n, _, err := scanQName(b[2:])
	if err != nil {
		return 0, err
	}
	if string(b[2:2+n]) != string(s.qname) {
		return 0, errMismatch
	}
	i := 2 + n
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return 0, errShort
	}
	if b[i] != '>' {
		return 0, errSyntax
	}
	return i + 1, io.EOF
}

// consume drops n bytes from the buffer and shrinks the buffer after a
// large element.
func (s *Scanner) consume(n int) {
	s.r += n
	if s.r == s.w {
		s.r, s.w = 0, 0
	}
	if len(s.buf) > bigBuf && s.w-s.r <= minBuf/2 {
		s.resize(minBuf)
	}
}

// resize moves the unread bytes into a new buffer of size n.
func (s *Scanner) resize(n int) {
	nb := make([]byte, n)
	s.w = copy(nb, s.buf[s.r:s.w])
	s.r = 0
	if n < len(s.buf) {
		s.dropScratch()
	}
	s.buf, s.pooled = nb, nil
}

// dropScratch clears the per-element scratch space, whose slices point into
// the read buffer: a buffer given up must not stay reachable through them.
func (s *Scanner) dropScratch() {
	clear(s.attrs[:cap(s.attrs)])
	clear(s.topAttrs[:cap(s.topAttrs)])
	clear(s.ns[:cap(s.ns)])
	clear(s.stack[:cap(s.stack)])
	s.attrs, s.topAttrs, s.ns, s.stack = s.attrs[:0], s.topAttrs[:0], s.ns[:0], s.stack[:0]
	s.innerNS = nil
	if cap(s.arena) > minBuf {
		s.arena = nil
	}
}

// maxBuf is the largest buffer: one element at the limit plus slack.
func (s *Scanner) maxBuf() int { return s.lim.MaxStanza + minBuf }

// fill reads more input into the buffer, making room first.
func (s *Scanner) fill() error {
	if s.rerr != nil {
		err := s.rerr
		if err != io.EOF {
			s.rerr = nil
		}
		return err
	}
	switch {
	case s.buf == nil:
		s.pooled = smallBufs.Get().(*[]byte)
		s.buf = *s.pooled
	case s.w == len(s.buf):
		unread := s.w - s.r
		switch {
		case s.filled && len(s.buf) < readBuf, unread > len(s.buf)/2 && len(s.buf) < s.maxBuf():
			// Reads fill the buffer (a busy stream, NATS style) or one
			// element needs more room.
			s.resize(min(2*len(s.buf), s.maxBuf()))
		default:
			s.w = copy(s.buf, s.buf[s.r:s.w])
			s.r = 0
		}
	case s.shorts >= 2 && len(s.buf) > minBuf && s.w-s.r <= len(s.buf)/4:
		// Reads have been short for a while: halve the buffer (NATS).
		s.resize(len(s.buf) / 2)
		s.shorts = 0
	}
	for range 100 {
		n, err := s.rd.Read(s.buf[s.w:])
		if n < 0 || n > len(s.buf)-s.w {
			return errors.New("xmlscan: reader returned an invalid count")
		}
		s.filled = n == len(s.buf)-s.w
		if n < (len(s.buf)-s.w)/2 {
			s.shorts++
		} else {
			s.shorts = 0
		}
		s.w += n
		if err != nil {
			if n > 0 {
				s.rerr = err
				return nil
			}
			if err == io.EOF {
				s.rerr = err
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}
