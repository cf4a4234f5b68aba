package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errStreamClosed is returned by next when the peer closed its stream
// (</stream:stream>).
var errStreamClosed = errors.New("parley-bench: stream closed by peer")

// maxElement bounds one top-level element; the scanner refuses larger ones
// instead of growing without limit.
const maxElement = 1 << 20

// scanner frames an XMPP stream into top-level elements without parsing
// them: it tracks '<', '>' (outside quoted attribute values) and the
// element depth, and hands back each complete child of the stream as raw
// bytes. It replaces encoding/xml on the tool's hot path, so the tool costs
// far less per stanza than the servers it measures. It trusts the server to
// send well-formed XML and checks nothing beyond framing.
type scanner struct {
	r     io.Reader
	buf   []byte
	start int // first unconsumed byte
	end   int // end of the data read
	pos   int // scanned up to here: always a tag boundary, at depth depth
	depth int // depth at pos, relative to the stream element
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, 4096)}
}

// reset reads from r from now on, discarding anything buffered (RFC 6120
// §5.4.3.3: nothing read before the TLS handshake survives it).
func (s *scanner) reset(r io.Reader) {
	s.r = r
	s.start, s.end, s.pos, s.depth = 0, 0, 0, 0
}

// next returns the next top-level element: a complete child of the stream,
// or the stream header itself (an unclosed start tag whose local name is
// "stream"). The slice is valid until the following call.
func (s *scanner) next() ([]byte, error) {
	for {
		if el, ok, err := s.scan(); ok || err != nil {
			return el, err
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// scan advances over complete tags in the buffer; ok reports a complete
// element.
func (s *scanner) scan() (el []byte, ok bool, err error) {
	b := s.buf[:s.end]
	for {
		lt := bytes.IndexByte(b[s.pos:], '<')
		if lt < 0 {
			s.pos = s.end
			if s.depth == 0 {
				s.start = s.pos // whitespace keepalives between elements
			}
			return nil, false, nil
		}
		i := s.pos + lt
		if s.depth == 0 {
			s.start = i
		}
		if i+1 >= len(b) {
			s.pos = i
			return nil, false, nil
		}
		switch b[i+1] {
		case '?': // XML declaration or processing instruction
			e := bytes.Index(b[i:], []byte("?>"))
			if e < 0 {
				s.pos = i
				return nil, false, nil
			}
			s.pos = i + e + 2
			if s.depth == 0 {
				s.start = s.pos
			}
			continue
		case '!': // comment or CDATA
			term := []byte("-->")
			if bytes.HasPrefix(b[i:], []byte("<![CDATA[")) {
				term = []byte("]]>")
			}
			e := bytes.Index(b[i:], term)
			if e < 0 {
				s.pos = i
				return nil, false, nil
			}
			s.pos = i + e + len(term)
			continue
		}
		gt := tagEnd(b, i)
		if gt < 0 {
			s.pos = i
			return nil, false, nil
		}
		s.pos = gt + 1
		switch {
		case b[i+1] == '/':
			s.depth--
			if s.depth < 0 {
				return nil, false, errStreamClosed
			}
			if s.depth == 0 {
				el, s.start = b[s.start:s.pos], s.pos
				return el, true, nil
			}
		case b[gt-1] == '/':
			if s.depth == 0 {
				el, s.start = b[s.start:s.pos], s.pos
				return el, true, nil
			}
		case s.depth == 0 && isStreamHeader(b[i:s.pos]):
			el, s.start = b[i:s.pos], s.pos
			return el, true, nil
		default:
			s.depth++
		}
	}
}

// tagEnd returns the index of the '>' closing the tag opened at i, skipping
// quoted attribute values, or -1 if the buffer ends first.
func tagEnd(b []byte, i int) int {
	var quote byte
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			return j
		}
	}
	return -1
}

func isStreamHeader(tag []byte) bool {
	n := name(tag)
	if k := bytes.IndexByte(n, ':'); k >= 0 {
		n = n[k+1:]
	}
	return string(n) == "stream"
}

// fill reads more input, first moving unconsumed bytes to the front and
// growing the buffer if a single element fills it.
func (s *scanner) fill() error {
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.pos -= s.start
		s.end = n
		s.start = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= maxElement {
			return fmt.Errorf("parley-bench: element larger than %d bytes", maxElement)
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// name returns the qualified name of the element whose start tag begins el.
func name(el []byte) []byte {
	if len(el) < 2 || el[0] != '<' {
		return nil
	}
	j := 1
	for j < len(el) && !isSpace(el[j]) && el[j] != '>' && el[j] != '/' {
		j++
	}
	return el[1:j]
}

// attr returns the raw (unescaped) value of attribute key in the start tag
// that begins el, or nil.
func attr(el []byte, key string) []byte {
	i := len(name(el)) + 1
	for i < len(el) {
		for i < len(el) && isSpace(el[i]) {
			i++
		}
		if i >= len(el) || el[i] == '>' || el[i] == '/' {
			return nil
		}
		ks := i
		for i < len(el) && el[i] != '=' && !isSpace(el[i]) {
			i++
		}
		k := el[ks:i]
		for i < len(el) && (isSpace(el[i]) || el[i] == '=') {
			i++
		}
		if i >= len(el) {
			return nil
		}
		q := el[i]
		if q != '\'' && q != '"' {
			return nil
		}
		e := bytes.IndexByte(el[i+1:], q)
		if e < 0 {
			return nil
		}
		v := el[i+1 : i+1+e]
		if string(k) == key {
			return v
		}
		i += e + 2
	}
	return nil
}

// text returns the character data directly inside el (between the end of
// its start tag and its end tag), raw; nil for an empty element.
func text(el []byte) []byte {
	gt := tagEnd(el, 0)
	if gt < 0 || el[gt-1] == '/' {
		return nil
	}
	lt := bytes.LastIndexByte(el, '<')
	if lt <= gt {
		return nil
	}
	return el[gt+1 : lt]
}

// child returns the first descendant element of el named n (qualified name
// as written), or nil. It is a byte search, good enough for the few fixed
// elements the tool looks for (<body>, <jid>, <item>).
func child(el []byte, n string) []byte {
	off := 1
	for {
		k := bytes.Index(el[off:], []byte("<"+n))
		if k < 0 {
			return nil
		}
		i := off + k
		j := i + 1 + len(n)
		if j < len(el) && (isSpace(el[j]) || el[j] == '>' || el[j] == '/') {
			gt := tagEnd(el, i)
			if gt < 0 {
				return nil
			}
			if el[gt-1] == '/' {
				return el[i : gt+1]
			}
			e := bytes.Index(el[gt:], []byte("</"+n+">"))
			if e < 0 {
				return nil
			}
			return el[i : gt+e+len(n)+3]
		}
		off = j
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
