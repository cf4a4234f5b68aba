package xmpp

import (
	"bytes"
	"encoding/xml"
	"io"
	"sync"
)

// Kind tells the three stanza kinds apart from everything else a stream
// carries at the top level (nonzas: stream features, SASL, stream management,
// CSI, ...).
type Kind uint8

// The kinds of top-level element.
const (
	KindOther Kind = iota
	KindMessage
	KindPresence
	KindIQ
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPresence:
		return "presence"
	case KindIQ:
		return "iq"
	}
	return "other"
}

// Attr is one attribute of a top-level element other than the routing
// attributes Stanza keeps in fields. Value is unescaped.
type Attr struct {
	Name  string // as written, with its prefix if any ("xmlns:foo", "foo:bar")
	Value string
}

// Stanza is one top-level element of a stream with its routing header parsed
// and its content kept as canonical bytes.
//
// The header (Kind, Name, Space, ID, Type, From, To, Lang, Payload) is parsed
// eagerly by the scanner; the content (Inner) is validated, well-formed XML
// that every module may forward without parsing. Inner is self-contained: any
// namespace prefix it uses is declared inside it or in Attrs as an xmlns:p
// declaration, so it can be written into any stream.
//
// Ownership: a *Stanza handed to a handler belongs to the caller until the
// handler returns; keep it longer only through Clone.
type Stanza struct {
	Kind  Kind
	Name  string // local name of the element: "message", "presence", "iq", "a", "enable", ...
	Space string // namespace of the element
	ID    string
	Type  string
	From  JID
	To    JID
	Lang  string // xml:lang, stamped from the stream when the element has none
	Attrs []Attr // other attributes, in document order, including needed xmlns:p declarations

	// Payload is the name of the first child element, the key modules
	// dispatch on (the IQ payload namespace, for instance). Zero when the
	// element has no child element.
	Payload xml.Name

	// Inner is the canonical content between the start and end tags.
	Inner []byte
}

// Reset clears s for reuse, keeping its buffers.
func (s *Stanza) Reset() {
	inner, attrs := s.Inner[:0], s.Attrs[:0]
	*s = Stanza{Inner: inner, Attrs: attrs}
}

// Clone returns a deep copy of s that does not share memory with it.
func (s *Stanza) Clone() *Stanza {
	c := *s
	c.Inner = append([]byte(nil), s.Inner...)
	c.Attrs = append([]Attr(nil), s.Attrs...)
	return &c
}

// Attr returns the value of the attribute named name ("" if absent).
func (s *Stanza) Attr(name string) string {
	for _, a := range s.Attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

var stanzaPool = sync.Pool{New: func() any { return new(Stanza) }}

// GetStanza returns an empty Stanza from a pool; PutStanza returns it.
func GetStanza() *Stanza { return stanzaPool.Get().(*Stanza) }

// PutStanza returns s to the pool. s must not be used afterwards.
func PutStanza(s *Stanza) {
	if cap(s.Inner) > 64<<10 {
		s.Inner = nil // a large stanza's buffer is not worth keeping
	}
	s.Reset()
	stanzaPool.Put(s)
}

// Append appends the wire form of s to dst. streamNS is the default namespace
// of the stream it is written into ("jabber:client" on a TCP stream, "" for
// RFC 7395 framing where every stanza names its namespace); the element's
// namespace is declared only when it differs.
func (s *Stanza) Append(dst []byte, streamNS string) []byte {
	dst = append(dst, '<')
	dst = append(dst, s.Name...)
	if s.Space != streamNS {
		dst = appendAttr(dst, "xmlns", s.Space)
	}
	if !s.To.IsZero() {
		dst = appendAttr(dst, "to", s.To.String())
	}
	if !s.From.IsZero() {
		dst = appendAttr(dst, "from", s.From.String())
	}
	if s.ID != "" {
		dst = appendAttr(dst, "id", s.ID)
	}
	if s.Type != "" {
		dst = appendAttr(dst, "type", s.Type)
	}
	if s.Lang != "" {
		dst = appendAttr(dst, "xml:lang", s.Lang)
	}
	for _, a := range s.Attrs {
		dst = appendAttr(dst, a.Name, a.Value)
	}
	if len(s.Inner) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = append(dst, s.Inner...)
	dst = append(dst, "</"...)
	dst = append(dst, s.Name...)
	return append(dst, '>')
}

// String returns the wire form of s in a jabber:client stream, for logs and tests.
func (s *Stanza) String() string { return string(s.Append(nil, NSClient)) }

// Decoder returns an encoding/xml decoder over Inner with s's namespace
// context restored, for modules that need to parse a payload. It is not for
// the hot path: encoding/xml costs microseconds and dozens of allocations
// per element.
func (s *Stanza) Decoder() *xml.Decoder {
	var b bytes.Buffer
	b.Grow(len(s.Inner) + 64)
	b.WriteString("<x")
	if s.Space != "" {
		b.Write(appendAttr(nil, "xmlns", s.Space))
	}
	for _, a := range s.Attrs {
		if len(a.Name) > 6 && a.Name[:6] == "xmlns:" {
			b.Write(appendAttr(nil, a.Name, a.Value))
		}
	}
	b.WriteByte('>')
	b.Write(s.Inner)
	b.WriteString("</x>")
	d := xml.NewDecoder(&b)
	if _, err := d.Token(); err != nil { // consume the wrapper's start
		return xml.NewDecoder(io.MultiReader())
	}
	return d
}

// NextStart returns the next start element d reads, skipping text,
// comments and end elements: the usual first step of parsing a payload.
func NextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if t, ok := tok.(xml.StartElement); ok {
			return t, nil
		}
	}
}

// UnmarshalPayload decodes the first child element into v with encoding/xml.
func (s *Stanza) UnmarshalPayload(v any) error {
	d := s.Decoder()
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return d.DecodeElement(v, &se)
		}
	}
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = AppendEscaped(dst, value, true)
	return append(dst, '"')
}

// AppendEscaped appends s with XML's special characters escaped. In attribute
// values (attr true) quotes and white space other than ' ' are escaped as well,
// so the value survives attribute-value normalisation.
func AppendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\'':
			if !attr {
				continue
			}
			esc = "&apos;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}

// ChildText returns the text of the first direct child element {space}local
// and whether there is one. Like Decoder, it is for control paths, not the
// per-message hot path.
func (s *Stanza) ChildText(space, local string) (string, bool) {
	d := s.Decoder()
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name.Space == space && t.Name.Local == local {
				var v string
				if err := d.DecodeElement(&v, &t); err != nil {
					return "", false
				}
				return v, true
			}
			depth++
		case xml.EndElement:
			depth--
			if depth < 0 {
				return "", false
			}
		}
	}
}
