package xmlscan

import (
	"bytes"
	"unicode/utf8"

	"github.com/parley-im/parley/xmpp"
)

// nsXMLNS is the namespace name bound to the xmlns prefix (Namespaces in
// XML §3); nothing may declare it.
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

var nsXMLBytes = []byte(xmpp.NSXML)

// rawAttr is one attribute of the start tag being parsed. Its slices point
// into the element's bytes (or into the scanner's arena) and live until the
// parse ends.
type rawAttr struct {
	name  []byte // qualified name as written
	plen  int    // length of the prefix, 0 when unprefixed
	val   []byte // value as written, between the quotes
	plain bool   // val holds no reference and no white space to normalise
	decl  bool   // a namespace declaration
	space []byte // namespace of a prefixed attribute
}

// binding is a namespace declaration in scope inside the element.
type binding struct {
	prefix []byte // nil for the default namespace
	uri    []byte
}

// frame is an open element inside the top-level one.
type frame struct {
	name   []byte // qualified name, matched against the end tag
	ns     int    // len(Scanner.ns) before the element's declarations
	ownDef bool   // the default namespace is declared on it or an ancestor below the top
}

// tag is what startTag learned about a start tag.
type tag struct {
	end      int    // index after the tag's '>'
	empty    bool   // ended with "/>"
	name     []byte // qualified name as written
	plen     int    // prefix length
	space    []byte // resolved namespace
	localDef bool   // the tag declares the default namespace itself
}

// parse scans one complete top-level element from the start of b (b[0] is
// '<') into st and returns its length. It returns errShort when b ends
// before the element does; every other error is final.
func (s *Scanner) parse(b []byte, st *xmpp.Stanza) (int, error) {
	st.Reset()
	s.maxAttrs = s.lim.MaxAttrs
	s.ns = s.ns[:0]
	s.stack = s.stack[:0]
	s.inserts = s.inserts[:0]
	s.arena = s.arena[:0]
	s.rewrite = false
	for i := range s.hdrNS {
		s.hdrNS[i].used = false
	}
	top, err := s.startTag(b, 0, true)
	if err != nil {
		return 0, err
	}
	s.topAttrs = append(s.topAttrs[:0], s.attrs...)
	inner, innerEnd, end := top.end, top.end, top.end
	if !top.empty {
		// Unprefixed children of a prefixed top-level element inherit a
		// default namespace that may differ from the element's own; when it
		// does, Inner gets explicit declarations (see copyInner).
		s.innerNS = s.lookupDefault()
		s.rewrite = top.plen > 0 && !bytes.Equal(s.innerNS, top.space)
		s.stack = append(s.stack, frame{name: top.name, ns: 0})
		innerEnd, end, err = s.content(b, top.end, st)
		if err != nil {
			return 0, err
		}
	}
	st.Name = s.in.get(localName(top.name, top.plen))
	st.Space = s.in.get(top.space)
	if st.Space == xmpp.NSClient || st.Space == xmpp.NSServer {
		switch st.Name {
		case "message":
			st.Kind = xmpp.KindMessage
		case "presence":
			st.Kind = xmpp.KindPresence
		case "iq":
			st.Kind = xmpp.KindIQ
		}
	}
	jidErr := s.fillAttrs(st)
	s.copyInner(st, b[inner:innerEnd], inner)
	return end, jidErr
}

// localName returns the local part of the qualified name q with a prefix
// of plen bytes.
func localName(q []byte, plen int) []byte {
	if plen == 0 {
		return q
	}
	return q[plen+1:]
}

// fillAttrs fills st's routing fields and Attrs from the top-level
// element's attributes. A to or from that is not a valid address is left
// zero and reported as a jid-malformed stanza error.
func (s *Scanner) fillAttrs(st *xmpp.Stanza) error {
	var jidErr error
	hasLang := false
	for k := range s.topAttrs {
		a := &s.topAttrs[k]
		switch {
		case a.decl && (a.plen == 0 || string(a.name) == "xmlns:xml"):
			// The default namespace is Space; the xml prefix is bound
			// everywhere.
			continue
		case a.plen == 0:
			var err error
			switch string(a.name) {
			case "to":
				if st.To, err = s.jids.parse(s.value(a)); err != nil {
					jidErr = xmpp.NewStanzaError(xmpp.JIDMalformed, "invalid 'to' address")
				}
				continue
			case "from":
				if st.From, err = s.jids.parse(s.value(a)); err != nil {
					jidErr = xmpp.NewStanzaError(xmpp.JIDMalformed, "invalid 'from' address")
				}
				continue
			// An empty id or type stays an attribute: the fields cannot
			// tell it from a missing one, and forwarding must keep it.
			case "id":
				if len(a.val) > 0 {
					st.ID = string(s.value(a))
					continue
				}
			case "type":
				if len(a.val) > 0 {
					st.Type = s.in.get(s.value(a))
					continue
				}
			}
		case string(a.name) == "xml:lang":
			hasLang = true
			v := s.value(a)
			switch {
			case string(v) == s.hdr.Lang:
				st.Lang = s.hdr.Lang
			case len(v) == 0:
				// An explicit empty language overrides the stream's;
				// Lang cannot say so, an attribute can.
				st.Attrs = append(st.Attrs, xmpp.Attr{Name: "xml:lang"})
			default:
				st.Lang = s.in.get(v)
			}
			continue
		}
		st.Attrs = append(st.Attrs, xmpp.Attr{Name: s.in.get(a.name), Value: string(s.value(a))})
	}
	if !hasLang {
		st.Lang = s.hdr.Lang
	}
	for k := range s.hdrNS {
		if h := &s.hdrNS[k]; h.used {
			st.Attrs = append(st.Attrs, xmpp.Attr{Name: h.decl, Value: h.uri})
		}
	}
	return jidErr
}

// copyInner copies the content of the top-level element into st.Inner.
// When the element is prefixed and the default namespace its content
// inherits differs from its own, each unprefixed descendant that inherits
// it gets an explicit xmlns, so that Inner means the same under the xmlns
// Append writes.
func (s *Scanner) copyInner(st *xmpp.Stanza, inner []byte, off int) {
	if len(s.inserts) == 0 {
		st.Inner = append(st.Inner[:0], inner...)
		return
	}
	dst, last := st.Inner[:0], 0
	for _, at := range s.inserts {
		at -= off
		dst = append(dst, inner[last:at]...)
		dst = append(dst, ` xmlns="`...)
		dst = xmpp.AppendEscaped(dst, string(s.innerNS), true)
		dst = append(dst, '"')
		last = at
	}
	st.Inner = append(dst, inner[last:]...)
}

// startTag scans the start tag at b[i] == '<', processes its namespace
// declarations and resolves its names. The attributes stay in s.attrs.
func (s *Scanner) startTag(b []byte, i int, top bool) (tag, error) {
	var t tag
	i++
	n, plen, err := scanQName(b[i:])
	if err != nil {
		return t, err
	}
	if n == 0 {
		return t, errBadName
	}
	t.name, t.plen = b[i:i+n], plen
	i += n
	s.attrs = s.attrs[:0]
	for {
		j := i
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			return t, errShort
		}
		switch b[j] {
		case '>':
			t.end = j + 1
		case '/':
			if j+1 == len(b) {
				return t, errShort
			}
			if b[j+1] != '>' {
				return t, errSyntax
			}
			t.end, t.empty = j+2, true
		}
		if t.end != 0 {
			break
		}
		if j == i {
			return t, errAttrSpace
		}
		if i, err = s.attr(b, j); err != nil {
			return t, err
		}
	}
	if err := s.declare(); err != nil {
		return t, err
	}
	for k := range s.attrs {
		a := &s.attrs[k]
		if a.plen > 0 && !a.decl {
			sp, err := s.resolve(a.name[:a.plen], true)
			if err != nil {
				return t, err
			}
			a.space = sp
			for m := range k {
				o := &s.attrs[m]
				if o.plen > 0 && !o.decl && bytes.Equal(o.name[o.plen:], a.name[a.plen:]) && bytes.Equal(o.space, sp) {
					return t, errDupAttr
				}
			}
		}
		if bytes.Equal(a.name, []byte("xmlns")) {
			t.localDef = true
		}
	}
	if plen > 0 {
		if bytes.Equal(t.name[:plen], []byte("xmlns")) {
			return t, errReserved
		}
		t.space, err = s.resolve(t.name[:plen], !top)
	} else {
		t.space = s.lookupDefault()
	}
	return t, err
}

// attr scans one attribute at b[i] into s.attrs and returns the index
// after its closing quote.
func (s *Scanner) attr(b []byte, i int) (int, error) {
	n, plen, err := scanQName(b[i:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errSyntax
	}
	a := rawAttr{name: b[i : i+n], plen: plen, plain: true}
	i += n
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return 0, errShort
	}
	if b[i] != '=' {
		return 0, errSyntax
	}
	i++
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return 0, errShort
	}
	q := b[i]
	if q != '"' && q != '\'' {
		return 0, errSyntax
	}
	i++
	start := i
	for {
		for i < len(b) && attrClass[b[i]] == cPlain {
			i++
		}
		if i == len(b) {
			return 0, errShort
		}
		c := b[i]
		switch attrClass[c] {
		case cCtrl:
			return 0, errBadChar
		case cHigh:
			_, m, err := decodeChar(b[i:])
			if err != nil {
				return 0, err
			}
			i += m
			continue
		}
		if c == q {
			break
		}
		switch c {
		case '<':
			return 0, errLtInAttr
		case '&':
			m, _, err := scanRef(b[i:])
			if err != nil {
				return 0, err
			}
			i += m
			a.plain = false
		case '\t', '\n', '\r':
			i++
			a.plain = false
		default: // the other quote character
			i++
		}
	}
	a.val = b[start:i]
	for k := range s.attrs {
		if bytes.Equal(s.attrs[k].name, a.name) {
			return 0, errDupAttr
		}
	}
	if len(s.attrs) == s.maxAttrs {
		return 0, errTooManyAttrs
	}
	s.attrs = append(s.attrs, a)
	return i + 1, nil
}

// declare pushes the namespace declarations among s.attrs, checking the
// constraints of Namespaces in XML §3 on reserved prefixes and names.
func (s *Scanner) declare() error {
	for k := range s.attrs {
		a := &s.attrs[k]
		var prefix []byte
		switch {
		case a.plen == 0 && bytes.Equal(a.name, []byte("xmlns")):
		case a.plen == 5 && bytes.Equal(a.name[:5], []byte("xmlns")):
			prefix = a.name[6:]
		default:
			continue
		}
		a.decl = true
		if !a.plain && bytes.ContainsAny(a.val, "\t\n\r") {
			// Attribute-value normalisation would turn these into
			// spaces, which some parsers (encoding/xml among them) skip:
			// peers would disagree on the namespace. No URI has them.
			return errSpaceInNS
		}
		uri := s.value(a)
		isXML, isXMLNS := string(uri) == xmpp.NSXML, string(uri) == nsXMLNS
		switch {
		case prefix == nil:
			if isXML || isXMLNS {
				return errReserved
			}
			prefix = nil
		case string(prefix) == "xmlns":
			return errReserved
		case string(prefix) == "xml":
			if !isXML {
				return errReserved
			}
			continue // always bound; nothing to push
		case len(uri) == 0:
			return errEmptyPrefixDecl
		case isXML || isXMLNS:
			return errReserved
		}
		if len(s.ns) == maxNSInScope {
			return errTooManyNS
		}
		s.ns = append(s.ns, binding{prefix: prefix, uri: uri})
	}
	return nil
}

// maxNSInScope bounds the namespace declarations in scope at once, and with
// it the cost of resolving a prefix. Real stanzas stay far below it.
const maxNSInScope = 128

// resolve returns the namespace bound to prefix. used marks a binding found
// on the stream header as needed by the element's content.
func (s *Scanner) resolve(prefix []byte, used bool) ([]byte, error) {
	if string(prefix) == "xml" {
		return nsXMLBytes, nil
	}
	for k := len(s.ns) - 1; k >= 0; k-- {
		if b := s.ns[k]; b.prefix != nil && bytes.Equal(b.prefix, prefix) {
			return b.uri, nil
		}
	}
	for k := range s.hdrNS {
		if h := &s.hdrNS[k]; h.prefix == string(prefix) {
			h.used = h.used || used
			return h.uriBytes, nil
		}
	}
	return nil, errUndeclared
}

// lookupDefault returns the default namespace in scope.
func (s *Scanner) lookupDefault() []byte {
	for k := len(s.ns) - 1; k >= 0; k-- {
		if s.ns[k].prefix == nil {
			return s.ns[k].uri
		}
	}
	return s.hdrDefault
}

// value returns the attribute value with references replaced and white
// space normalised (XML 1.0 §3.3.3).
func (s *Scanner) value(a *rawAttr) []byte {
	if a.plain {
		return a.val
	}
	if cap(s.arena)-len(s.arena) < len(a.val) {
		// A value never grows when unescaped. Earlier slices keep the
		// old array alive, so replacing it is safe.
		s.arena = make([]byte, 0, max(len(a.val), 2*cap(s.arena), 256))
	}
	start := len(s.arena)
	s.arena = appendValue(s.arena, a.val)
	return s.arena[start:len(s.arena):len(s.arena)]
}

// appendValue appends the normalised value of the validated raw value v.
func appendValue(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '&':
			n, r, _ := scanRef(v[i:])
			dst = utf8.AppendRune(dst, r)
			i += n - 1
		case '\r':
			if i+1 < len(v) && v[i+1] == '\n' {
				i++
			}
			dst = append(dst, ' ')
		case '\t', '\n':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// content scans the content of the top-level element from b[i] to its end
// tag. It returns the index of the end tag and the index after it.
func (s *Scanner) content(b []byte, i int, st *xmpp.Stanza) (innerEnd, end int, err error) {
	elems := 0
	for {
		// Character data up to the next '<'.
		for i < len(b) {
			for i < len(b) && textClass[b[i]] == cPlain {
				i++
			}
			if i == len(b) {
				break
			}
			c := b[i]
			switch textClass[c] {
			case cCtrl:
				return 0, 0, errBadChar
			case cHigh:
				_, n, err := decodeChar(b[i:])
				if err != nil {
					return 0, 0, err
				}
				i += n
				continue
			}
			if c == '<' {
				break
			}
			if c == '&' {
				n, _, err := scanRef(b[i:])
				if err != nil {
					return 0, 0, err
				}
				i += n
				continue
			}
			// ']': "]]>" may not appear in character data.
			if i+2 >= len(b) {
				if i+1 < len(b) && b[i+1] != ']' {
					i++
					continue
				}
				return 0, 0, errShort
			}
			if b[i+1] == ']' && b[i+2] == '>' {
				return 0, 0, errCDATAEnd
			}
			i++
		}
		if i+1 >= len(b) {
			return 0, 0, errShort
		}
		switch b[i+1] {
		case '/':
			f := s.stack[len(s.stack)-1]
			j := i + 2
			n, _, err := scanQName(b[j:])
			if err != nil {
				return 0, 0, err
			}
			if !bytes.Equal(b[j:j+n], f.name) {
				return 0, 0, errMismatch
			}
			j += n
			for j < len(b) && isSpace(b[j]) {
				j++
			}
			if j == len(b) {
				return 0, 0, errShort
			}
			if b[j] != '>' {
				return 0, 0, errSyntax
			}
			s.stack = s.stack[:len(s.stack)-1]
			s.ns = s.ns[:f.ns]
			if len(s.stack) == 0 {
				return i, j + 1, nil
			}
			i = j + 1
		case '!':
			n, err := s.cdata(b[i:])
			if err != nil {
				return 0, 0, err
			}
			i += n
		case '?':
			return 0, 0, errPI
		default:
			level := len(s.stack)
			mark := len(s.ns)
			t, err := s.startTag(b, i, false)
			if err != nil {
				return 0, 0, err
			}
			if elems++; elems > s.lim.MaxElements {
				return 0, 0, errTooManyElems
			}
			if level > s.lim.MaxDepth {
				return 0, 0, errTooDeep
			}
			if level == 1 && elems == 1 {
				st.Payload.Space = s.in.get(t.space)
				st.Payload.Local = s.in.get(localName(t.name, t.plen))
			}
			ownDef := t.localDef || s.stack[len(s.stack)-1].ownDef
			if s.rewrite && t.plen == 0 && !ownDef {
				s.inserts = append(s.inserts, i+1+len(t.name))
			}
			if t.empty {
				s.ns = s.ns[:mark]
			} else {
				s.stack = append(s.stack, frame{name: t.name, ns: mark, ownDef: ownDef})
			}
			i = t.end
		}
	}
}

// cdata scans the markup at b[0:2] == "<!": a CDATA section (returning its
// length) or one of the declarations restricted XML forbids.
func (s *Scanner) cdata(b []byte) (int, error) {
	if len(b) < 3 {
		return 0, errShort
	}
	switch c := b[2]; {
	case c == '-':
		if len(b) < 4 {
			return 0, errShort
		}
		if b[3] == '-' {
			return 0, errComment
		}
		return 0, errSyntax
	case c == '[':
	case c >= 'A' && c <= 'Z':
		return 0, errDTD
	default:
		return 0, errSyntax
	}
	for k := 3; k < len(cdataOpen); k++ {
		if k == len(b) {
			return 0, errShort
		}
		if b[k] != cdataOpen[k] {
			return 0, errSyntax
		}
	}
	i := len(cdataOpen)
	for {
		if i == len(b) {
			return 0, errShort
		}
		c := b[i]
		switch {
		case c >= 0x80:
			_, n, err := decodeChar(b[i:])
			if err != nil {
				return 0, err
			}
			i += n
			continue
		case textClass[c] == cCtrl:
			return 0, errBadChar
		case c == ']':
			if i+2 >= len(b) {
				return 0, errShort
			}
			if b[i+1] == ']' && b[i+2] == '>' {
				return i + 3, nil
			}
		}
		i++
	}
}
