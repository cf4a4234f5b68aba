package xmlscan

import (
	"bytes"
	"io"
	"strings"

	"github.com/parley-im/parley/xmpp"
)

// Header is the stream header (<stream:stream ...>) or the RFC 7395 <open/>.
type Header struct {
	To, From, ID, Version, Lang string

	NS     string // default namespace declared on it ("jabber:client" expected)
	Prefix string // prefix bound to http://etherx.jabber.org/streams ("stream"); "" when framed
	Framed bool   // RFC 7395 <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>
}

// ReadHeader reads the stream header: an optional byte order mark and XML
// declaration, white space, then <stream:stream> (RFC 6120 §4.7) or, with
// WebSocket framing, <open/> (RFC 7395 §3.3.2). It checks the stream
// namespace, the content namespace (jabber:client) and the version, and
// returns a *xmpp.StreamError naming the condition RFC 6120 §4.9.3 gives
// for each failure.
func (s *Scanner) ReadHeader() (Header, error) {
	if s.err != nil {
		return Header{}, s.err
	}
	s.open, s.closed, s.framing = false, false, false
	s.hdr = Header{}
	s.hdrNS = s.hdrNS[:0]
	s.hdrDefault = nil
	for {
		n, err := s.header()
		if err == nil {
			s.consume(n)
			s.open = true
			return s.hdr, nil
		}
		if err != errShort {
			s.hdr = Header{}
			s.hdrNS, s.hdrDefault = s.hdrNS[:0], nil
			return Header{}, s.fail(err)
		}
		if err := s.fill(); err != nil {
			if err == io.EOF {
				s.err = io.ErrUnexpectedEOF
				return Header{}, s.err
			}
			return Header{}, s.readFailed(err, nil)
		}
	}
}

// header scans the prolog and stream header at the start of the buffer.
func (s *Scanner) header() (int, error) {
	b := s.buf[s.r:s.w]
	hl := min(maxHeader, s.lim.MaxStanza)
	b = b[:min(len(b), hl)]
	short := errShort
	if len(b) == hl {
		short = errHeaderTooBig
	}
	i := 0
	// A UTF-8 byte order mark is allowed; any other is another encoding.
	if len(b) < 3 && bytes.HasPrefix([]byte("\xEF\xBB\xBF"), b) {
		return 0, short
	}
	if bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
		i = 3
	} else if bytes.HasPrefix(b, []byte("\xFE\xFF")) || bytes.HasPrefix(b, []byte("\xFF\xFE")) || len(b) > 0 && b[0] == 0 {
		return 0, errBadEncoding
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if n, err := xmlDecl(b[i:]); err != nil {
		if err == errShort {
			return 0, short
		}
		return 0, err
	} else {
		i += n
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if len(b)-i < 2 {
		return 0, short
	}
	if b[i] != '<' {
		return 0, errTopText
	}
	switch b[i+1] {
	case '?':
		return 0, errPI
	case '!':
		if _, err := s.cdata(b[i:]); err != nil {
			if err == errShort {
				return 0, short
			}
			return 0, err
		}
		return 0, errTopText
	case '/':
		return 0, errSyntax
	}
	f := framer{tagOnly: true}
	switch f.run(b[i:], &s.lim) {
	case frameMore:
		return 0, short
	case frameHint:
		// startTag reports the error.
	}
	s.ns, s.stack = s.ns[:0], s.stack[:0]
	s.arena = s.arena[:0]
	s.maxAttrs = maxHeaderAttrs
	t, err := s.startTag(b, i, true)
	if err == errShort {
		return 0, errFraming
	}
	if err != nil {
		return 0, err
	}
	if err := s.streamElement(t); err != nil {
		return 0, err
	}
	return t.end, nil
}

// streamElement checks the stream element t and fills s.hdr.
func (s *Scanner) streamElement(t tag) error {
	local := string(localName(t.name, t.plen))
	h := &s.hdr
	switch {
	case local == "open" && string(t.space) == xmpp.NSFraming:
		if !t.empty {
			return nwf("<open/> must be empty")
		}
		h.Framed = true
	case local != "stream" || string(t.space) != xmpp.NSStream:
		return &scanError{xmpp.StreamInvalidNamespace, "stream element is not {" + xmpp.NSStream + "}stream"}
	}
	def := s.lookupDefault()
	h.NS = string(def)
	if !h.Framed {
		if h.NS != xmpp.NSClient {
			return &scanError{xmpp.StreamInvalidNamespace, "content namespace is not " + xmpp.NSClient}
		}
		h.NS = xmpp.NSClient
		h.Prefix = string(t.name[:t.plen])
		s.qname = append(s.qname[:0], t.name...)
		s.closed = t.empty
		s.hdrDefault = []byte(xmpp.NSClient)
		for _, b := range s.ns {
			if b.prefix == nil {
				continue
			}
			p, uri := string(b.prefix), string(b.uri)
			s.hdrNS = append(s.hdrNS, hdrBinding{prefix: p, uri: uri, uriBytes: []byte(uri), decl: "xmlns:" + p})
		}
	}
	for k := range s.attrs {
		a := &s.attrs[k]
		v := s.value(a)
		switch string(a.name) {
		case "to":
			h.To = string(v)
		case "from":
			h.From = string(v)
		case "id":
			h.ID = string(v)
		case "version":
			h.Version = string(v)
		case "xml:lang":
			h.Lang = string(v)
		}
	}
	s.ns = s.ns[:0]
	// RFC 6120 §4.7.5: no version, or a major version below 1, is a
	// pre-RFC 3920 stream.
	major, _, ok := strings.Cut(h.Version, ".")
	if h.Version == "" || !ok || !digits(major) || strings.TrimLeft(major, "0") == "" {
		return &scanError{xmpp.StreamUnsupportedVersion, "stream version must be 1.0 or later"}
	}
	if _, minor, _ := strings.Cut(h.Version, "."); !digits(minor) {
		return &scanError{xmpp.StreamUnsupportedVersion, "malformed stream version"}
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxHeaderAttrs bounds the attributes of a stream header, independently of
// Limits.MaxAttrs, which is about stanzas.
const maxHeaderAttrs = 64

var (
	errBadEncoding  = &scanError{xmpp.StreamUnsupportedEncoding, "encoding other than UTF-8"}
	errHeaderTooBig = policy("stream header larger than the limit")
)

// xmlDecl scans an XML declaration (XML 1.0 production [23]) at the start
// of b and returns its length, 0 if b does not start with one.
func xmlDecl(b []byte) (int, error) {
	const open = "<?xml"
	if len(b) < len(open)+1 {
		if bytes.HasPrefix([]byte(open), b) {
			return 0, errShort
		}
		return 0, nil
	}
	if !bytes.HasPrefix(b, []byte(open)) || !isSpace(b[len(open)]) && b[len(open)] != '?' {
		return 0, nil // not a declaration; a PI, if anything, which the caller rejects
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 {
		return 0, errShort
	}
	d := b[len(open):end]
	// Pseudo-attributes in their fixed order: version, encoding, standalone.
	var names [3]string
	var vals [3][]byte
	n := 0
	for {
		j := 0
		for j < len(d) && isSpace(d[j]) {
			j++
		}
		if j == len(d) {
			break
		}
		if j == 0 || n == len(names) {
			return 0, nwf("malformed XML declaration")
		}
		d = d[j:]
		k := bytes.IndexByte(d, '=')
		if k < 0 {
			return 0, nwf("malformed XML declaration")
		}
		names[n] = string(bytes.TrimRight(d[:k], " \t\r\n"))
		d = bytes.TrimLeft(d[k+1:], " \t\r\n")
		if len(d) == 0 || d[0] != '"' && d[0] != '\'' {
			return 0, nwf("malformed XML declaration")
		}
		q := bytes.IndexByte(d[1:], d[0])
		if q < 0 {
			return 0, nwf("malformed XML declaration")
		}
		vals[n] = d[1 : 1+q]
		d = d[q+2:]
		n++
	}
	k := 0
	if n == 0 || names[0] != "version" || !versionNum(vals[0]) {
		return 0, nwf("XML declaration without version 1.x")
	}
	k++
	if k < n && names[k] == "encoding" {
		if !bytes.EqualFold(vals[k], []byte("UTF-8")) {
			return 0, errBadEncoding
		}
		k++
	}
	if k < n && names[k] == "standalone" {
		if v := string(vals[k]); v != "yes" && v != "no" {
			return 0, nwf("malformed XML declaration")
		}
		k++
	}
	if k != n {
		return 0, nwf("malformed XML declaration")
	}
	return end + 2, nil
}

// versionNum reports whether v matches '1.' [0-9]+ (XML 1.0 production [26]).
func versionNum(v []byte) bool {
	return len(v) > 2 && v[0] == '1' && v[1] == '.' && digits(string(v[2:]))
}
