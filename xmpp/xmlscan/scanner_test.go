package xmlscan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/parley-im/parley/xmpp"
)

// scanOne reads header+body and returns the first element and Next's error.
func scanOne(t *testing.T, hdr, body string, lim Limits) (*xmpp.Stanza, error) {
	t.Helper()
	s := New(strings.NewReader(hdr+body), lim)
	if _, err := s.ReadHeader(); err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	st := new(xmpp.Stanza)
	return st, s.Next(st)
}

func TestNextStanza(t *testing.T) {
	tests := []struct {
		name    string
		hdr     string // header; the TCP one when empty
		in      string
		kind    xmpp.Kind
		elem    string // Name
		space   string
		id, typ string
		to      string
		from    string
		lang    string
		attrs   []xmpp.Attr
		payload string // "{space}local"
		inner   string
	}{
		{
			name: "minimal chat message",
			in:   `<message to='juliet@example.com' id='a1' type='chat'><body>Hi</body></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, id: "a1", typ: "chat",
			to: "juliet@example.com", lang: "en", payload: "{jabber:client}body", inner: "<body>Hi</body>",
		},
		{
			name: "addresses normalised",
			in:   `<message from='Romeo@Example.NET/Orchard' to='JULIET@example.com.'/>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient,
			to: "juliet@example.com", from: "romeo@example.net/Orchard", lang: "en",
		},
		{
			name: "iq payload namespace",
			in:   `<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`,
			kind: xmpp.KindIQ, elem: "iq", space: xmpp.NSClient, id: "p", typ: "get", lang: "en",
			payload: "{urn:xmpp:ping}ping", inner: "<ping xmlns='urn:xmpp:ping'/>",
		},
		{
			name: "presence without content",
			in:   `<presence/>`,
			kind: xmpp.KindPresence, elem: "presence", space: xmpp.NSClient, lang: "en",
		},
		{
			name: "empty element written out",
			in:   `<presence></presence>`,
			kind: xmpp.KindPresence, elem: "presence", space: xmpp.NSClient, lang: "en",
		},
		{
			name: "nonza",
			in:   `<a xmlns='urn:xmpp:sm:3' h='12'/>`,
			kind: xmpp.KindOther, elem: "a", space: "urn:xmpp:sm:3", lang: "en",
			attrs: []xmpp.Attr{{Name: "h", Value: "12"}},
		},
		{
			name: "message in another namespace is not a stanza",
			in:   `<message xmlns='urn:example'/>`,
			kind: xmpp.KindOther, elem: "message", space: "urn:example", lang: "en",
		},
		{
			name: "explicit language",
			in:   `<message xml:lang='de'><body>Hallo</body></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "de",
			payload: "{jabber:client}body", inner: "<body>Hallo</body>",
		},
		{
			name: "empty language overrides the stream's",
			in:   `<message xml:lang=''/>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient,
			attrs: []xmpp.Attr{{Name: "xml:lang"}},
		},
		{
			name: "empty id and type stay attributes",
			in:   `<message id='' type=""/>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "en",
			attrs: []xmpp.Attr{{Name: "id"}, {Name: "type"}},
		},
		{
			name: "attribute values unescaped and normalised",
			in:   "<message id='a&amp;b&#x9;c' x='1&lt;2&gt;3&quot;&apos;' y='a\tb\r\nc\nd' z=\"it's\"/>",
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, id: "a&b\tc", lang: "en",
			attrs: []xmpp.Attr{{Name: "x", Value: `1<2>3"'`}, {Name: "y", Value: "a b c d"}, {Name: "z", Value: "it's"}},
		},
		{
			name: "namespace declarations on the element",
			in:   `<message xmlns='jabber:client' xmlns:foo='urn:foo' xmlns:xml='http://www.w3.org/XML/1998/namespace' foo:bar='1'><foo:x/></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "en",
			attrs:   []xmpp.Attr{{Name: "xmlns:foo", Value: "urn:foo"}, {Name: "foo:bar", Value: "1"}},
			payload: "{urn:foo}x", inner: "<foo:x/>",
		},
		{
			name: "header prefix re-declared",
			hdr:  `<stream:stream ` + streamNS + ` xmlns:ext='urn:ext' xmlns:unused='urn:unused' version='1.0'>`,
			in:   `<message><ext:data/><stream:x/></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient,
			attrs:   []xmpp.Attr{{Name: "xmlns:stream", Value: xmpp.NSStream}, {Name: "xmlns:ext", Value: "urn:ext"}},
			payload: "{urn:ext}data", inner: "<ext:data/><stream:x/>",
		},
		{
			name: "header prefix used by an attribute",
			hdr:  `<stream:stream ` + streamNS + ` xmlns:ext='urn:ext' version='1.0'>`,
			in:   `<message ext:flag='1'/>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient,
			attrs: []xmpp.Attr{{Name: "ext:flag", Value: "1"}, {Name: "xmlns:ext", Value: "urn:ext"}},
		},
		{
			name: "header prefix shadowed inside",
			hdr:  `<stream:stream ` + streamNS + ` xmlns:ext='urn:ext' version='1.0'>`,
			in:   `<message><ext:data xmlns:ext='urn:other'/></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient,
			payload: "{urn:other}data", inner: "<ext:data xmlns:ext='urn:other'/>",
		},
		{
			name: "stream-level element",
			in:   `<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
			kind: xmpp.KindOther, elem: "error", space: xmpp.NSStream, lang: "en",
			payload: "{urn:ietf:params:xml:ns:xmpp-streams}conflict", inner: "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
		},
		{
			name: "prefixed element gets its children's namespace declared",
			in:   `<c:message xmlns:c='jabber:client' xmlns='urn:inner'><body>x</body><c:thread>t</c:thread><q xmlns='urn:q'/></c:message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "en",
			attrs:   []xmpp.Attr{{Name: "xmlns:c", Value: xmpp.NSClient}},
			payload: "{urn:inner}body", inner: `<body xmlns="urn:inner">x</body><c:thread>t</c:thread><q xmlns='urn:q'/>`,
		},
		{
			name: "prefixed element inheriting the stream namespace",
			in:   `<p:x xmlns:p='urn:p'><y/></p:x>`,
			kind: xmpp.KindOther, elem: "x", space: "urn:p", lang: "en",
			attrs:   []xmpp.Attr{{Name: "xmlns:p", Value: "urn:p"}},
			payload: "{jabber:client}y", inner: `<y xmlns="jabber:client"/>`,
		},
		{
			name: "content kept byte for byte",
			in:   "<message><body xml:lang='fr'>a &amp; b &#233; <![CDATA[<x> & ]] > ]]>\r\n\tz</body><x a=\"&lt;\"/>  </message>",
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "en",
			payload: "{jabber:client}body", inner: "<body xml:lang='fr'>a &amp; b &#233; <![CDATA[<x> & ]] > ]]>\r\n\tz</body><x a=\"&lt;\"/>  ",
		},
		{
			name: "non-ASCII names and text",
			in:   `<message><körper xmlns='urn:ü'>grüß dich 🙂</körper></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "en",
			payload: "{urn:ü}körper", inner: `<körper xmlns='urn:ü'>grüß dich 🙂</körper>`,
		},
		{
			name: "undeclaring the default namespace",
			in:   `<message><x xmlns=''><y/></x></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, lang: "en",
			payload: "{}x", inner: `<x xmlns=''><y/></x>`,
		},
		{
			name: "framed stanza",
			hdr:  framed,
			in:   `<message xmlns='jabber:client' to='juliet@example.com'><body>ws</body></message>`,
			kind: xmpp.KindMessage, elem: "message", space: xmpp.NSClient, to: "juliet@example.com", lang: "en",
			payload: "{jabber:client}body", inner: "<body>ws</body>",
		},
		{
			name: "framed element without a namespace",
			hdr:  framed,
			in:   `<message/>`,
			kind: xmpp.KindOther, elem: "message", space: "", lang: "en",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := tt.hdr
			if hdr == "" {
				hdr = header
			}
			for _, oneByte := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(hdr + tt.in)
				if oneByte {
					rd = iotest.OneByteReader(rd)
				}
				s := New(rd, Limits{})
				if _, err := s.ReadHeader(); err != nil {
					t.Fatal(err)
				}
				var st xmpp.Stanza
				if err := s.Next(&st); err != nil {
					t.Fatalf("Next (one-byte reads %v): %v", oneByte, err)
				}
				payload := ""
				if st.Payload.Local != "" {
					payload = "{" + st.Payload.Space + "}" + st.Payload.Local
				}
				if st.Kind != tt.kind || st.Name != tt.elem || st.Space != tt.space || st.ID != tt.id || st.Type != tt.typ ||
					st.To.String() != tt.to || st.From.String() != tt.from || st.Lang != tt.lang || payload != tt.payload ||
					string(st.Inner) != tt.inner {
					t.Errorf("got kind %v name %q space %q id %q type %q to %q from %q lang %q payload %q inner %q\n"+
						"want kind %v name %q space %q id %q type %q to %q from %q lang %q payload %q inner %q",
						st.Kind, st.Name, st.Space, st.ID, st.Type, st.To, st.From, st.Lang, payload, st.Inner,
						tt.kind, tt.elem, tt.space, tt.id, tt.typ, tt.to, tt.from, tt.lang, tt.payload, tt.inner)
				}
				if !equalAttrs(st.Attrs, tt.attrs) {
					t.Errorf("Attrs = %q; want %q", st.Attrs, tt.attrs)
				}
			}
		})
	}
}

// nsFlood nests depth elements, each declaring n prefixes.
func nsFlood(depth, n int) string {
	var b strings.Builder
	for d := range depth {
		b.WriteString("<e")
		for i := range n {
			fmt.Fprintf(&b, " xmlns:p%d_%d='urn:%d'", d, i, i)
		}
		b.WriteString(">")
	}
	for range depth {
		b.WriteString("</e>")
	}
	return b.String()
}

func equalAttrs(a, b []xmpp.Attr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNextErrors(t *testing.T) {
	deep := strings.Repeat("<a>", 5) + strings.Repeat("</a>", 5)
	tests := []struct {
		name string
		hdr  string
		in   string
		lim  Limits
		cond xmpp.StreamCondition
	}{
		// not-well-formed
		{name: "mismatched tags", in: `<message><a><b></a></b></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "mismatched top-level end tag", in: `<message></presence>`, cond: xmpp.StreamNotWellFormed},
		{name: "end tag with other prefix", in: `<message xmlns:a='jabber:client'><a:x></x></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "duplicate attribute", in: `<message id='1' id='2'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "duplicate attribute inside", in: `<message><x a='1' a='1'/></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "duplicate expanded name", in: `<message xmlns:a='urn:x' xmlns:b='urn:x' a:q='1' b:q='2'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "duplicate declaration", in: `<message xmlns:a='urn:x' xmlns:a='urn:x'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "bare ampersand", in: `<message><body>a & b</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "reference without semicolon", in: `<message><body>&amp b</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "empty character reference", in: `<message><body>&#;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "bad hex reference", in: `<message><body>&#xZZ;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "uppercase X reference", in: `<message><body>&#X41;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "reference to NUL", in: `<message><body>&#x0;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "reference to a surrogate", in: `<message><body>&#xD800;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "reference beyond Unicode", in: `<message><body>&#1114112;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "huge reference", in: `<message><body>&#99999999999999999999999;</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "bad reference in attribute", in: `<message id='&#x1;'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "less-than in attribute", in: `<message id='a<b'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "cdata end in text", in: `<message><body>a]]>b</body></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "control character", in: "<message><body>a\x01b</body></message>", cond: xmpp.StreamNotWellFormed},
		{name: "control character in attribute", in: "<message id='a\x1fb'/>", cond: xmpp.StreamNotWellFormed},
		{name: "U+FFFE", in: "<message><body>\uFFFE</body></message>", cond: xmpp.StreamNotWellFormed},
		{name: "text at stream level", in: `hello<message/>`, cond: xmpp.StreamNotWellFormed},
		{name: "cdata at stream level", in: `<![CDATA[x]]>`, cond: xmpp.StreamNotWellFormed},
		{name: "attributes run together", in: `<message a='1'b='2'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "unquoted value", in: `<message a=1/>`, cond: xmpp.StreamNotWellFormed},
		{name: "space in empty-element tag", in: `<message/ >`, cond: xmpp.StreamNotWellFormed},
		{name: "attribute without value", in: `<message a/>`, cond: xmpp.StreamNotWellFormed},
		{name: "name with two colons", in: `<message><a:b:c xmlns:a='urn:a'/></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "name starting with a digit", in: `<message><1a/></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "space after less-than", in: `<message>< a/></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "malformed cdata start", in: `<message><![CDATX[x]]></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "markup declaration garbage", in: `<message><!x></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "line feed in a namespace name", in: "<message><x xmlns='urn:a\nb'/></message>", cond: xmpp.StreamNotWellFormed},
		{name: "empty prefix declaration", in: `<message xmlns:p=''/>`, cond: xmpp.StreamNotWellFormed},
		{name: "xml prefix rebound", in: `<message xmlns:xml='urn:x'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "xmlns prefix declared", in: `<message xmlns:xmlns='urn:x'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "xml namespace as default", in: `<message><x xmlns='http://www.w3.org/XML/1998/namespace'/></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "xml namespace bound to other prefix", in: `<message xmlns:p='http://www.w3.org/XML/1998/namespace'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "xmlns namespace bound", in: `<message xmlns:p='http://www.w3.org/2000/xmlns/'/>`, cond: xmpp.StreamNotWellFormed},
		{name: "element with xmlns prefix", in: `<message><xmlns:x/></message>`, cond: xmpp.StreamNotWellFormed},
		{name: "wrong stream end tag", in: `</stream:foo>`, cond: xmpp.StreamNotWellFormed},
		{name: "end tag in framed mode", hdr: framed, in: `</open>`, cond: xmpp.StreamNotWellFormed},
		// restricted-xml
		{name: "comment", in: `<message><!-- x --></message>`, cond: xmpp.StreamRestrictedXML},
		{name: "comment at stream level", in: `<!-- x --><message/>`, cond: xmpp.StreamRestrictedXML},
		{name: "processing instruction", in: `<message><?foo bar?></message>`, cond: xmpp.StreamRestrictedXML},
		{name: "xml declaration mid-stream", in: `<?xml version='1.0'?><message/>`, cond: xmpp.StreamRestrictedXML},
		{name: "doctype", in: `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><message>&lol2;</message>`, cond: xmpp.StreamRestrictedXML},
		{name: "entity declaration inside", in: `<message><!ENTITY x "y"></message>`, cond: xmpp.StreamRestrictedXML},
		{name: "undefined entity", in: `<message><body>&nbsp;</body></message>`, cond: xmpp.StreamRestrictedXML},
		{name: "undefined entity in attribute", in: `<message id='&lol;'/>`, cond: xmpp.StreamRestrictedXML},
		// bad-namespace-prefix
		{name: "undeclared element prefix", in: `<foo:message/>`, cond: xmpp.StreamBadNamespacePrefix},
		{name: "undeclared inner prefix", in: `<message><foo:x/></message>`, cond: xmpp.StreamBadNamespacePrefix},
		{name: "undeclared attribute prefix", in: `<message foo:bar='1'/>`, cond: xmpp.StreamBadNamespacePrefix},
		{name: "prefix out of scope", in: `<message><a xmlns:p='urn:p'/><p:b/></message>`, cond: xmpp.StreamBadNamespacePrefix},
		{name: "header prefix in framed mode", hdr: framed, in: `<stream:error xmlns='jabber:client'/>`, cond: xmpp.StreamBadNamespacePrefix},
		// unsupported-encoding
		{name: "invalid UTF-8 in text", in: "<message><body>\xc3\x28</body></message>", cond: xmpp.StreamUnsupportedEncoding},
		{name: "invalid UTF-8 in attribute", in: "<message id='\xff'/>", cond: xmpp.StreamUnsupportedEncoding},
		{name: "invalid UTF-8 in name", in: "<message><a\xe2\x82/></message>", cond: xmpp.StreamUnsupportedEncoding},
		{name: "encoded surrogate", in: "<message><body>\xed\xa0\x80</body></message>", cond: xmpp.StreamUnsupportedEncoding},
		{name: "overlong encoding", in: "<message><body>\xc0\xbc</body></message>", cond: xmpp.StreamUnsupportedEncoding},
		// policy-violation
		{name: "too large", in: `<message><body>` + strings.Repeat("a", 2000) + `</body></message>`, lim: Limits{MaxStanza: 1024}, cond: xmpp.StreamPolicyViolation},
		{name: "too large, complete", in: `<message><body>` + strings.Repeat("a", 1000) + `</body></message>`, lim: Limits{MaxStanza: 1024}, cond: xmpp.StreamPolicyViolation},
		{name: "too deep", in: `<message>` + deep + `</message>`, lim: Limits{MaxDepth: 4}, cond: xmpp.StreamPolicyViolation},
		{name: "too many attributes", in: `<message a='1' b='2' c='3' d='4'/>`, lim: Limits{MaxAttrs: 3}, cond: xmpp.StreamPolicyViolation},
		{name: "too many attributes inside", in: `<message><x a='1' b='2' c='3' d='4'/></message>`, lim: Limits{MaxAttrs: 3}, cond: xmpp.StreamPolicyViolation},
		{name: "too many namespace declarations", in: `<message>` + nsFlood(3, 50) + `</message>`, cond: xmpp.StreamPolicyViolation},
		{name: "too many elements", in: `<message>` + strings.Repeat("<a/>", 11) + `</message>`, lim: Limits{MaxElements: 10}, cond: xmpp.StreamPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := tt.hdr
			if hdr == "" {
				hdr = header
			}
			for _, oneByte := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(hdr + tt.in)
				if oneByte {
					rd = iotest.OneByteReader(rd)
				}
				s := New(rd, tt.lim)
				if _, err := s.ReadHeader(); err != nil {
					t.Fatal(err)
				}
				var st xmpp.Stanza
				err := s.Next(&st)
				if got := condition(err); got != string(tt.cond) {
					t.Fatalf("Next (one-byte reads %v) = %v; want condition %q", oneByte, err, tt.cond)
				}
				if again := s.Next(&st); condition(again) != string(tt.cond) {
					t.Fatalf("Next after a stream error = %v; want the same error", again)
				}
			}
		})
	}
}

// Limit sizes used to check that the small limits in TestNextErrors are the
// ones that fire: the same inputs pass with one more of each.
func TestLimitsAreExact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  Limits
	}{
		{name: "depth", in: `<message>` + strings.Repeat("<a>", 4) + strings.Repeat("</a>", 4) + `</message>`, lim: Limits{MaxDepth: 4}},
		{name: "attributes", in: `<message a='1' b='2' c='3'/>`, lim: Limits{MaxAttrs: 3}},
		{name: "elements", in: `<message>` + strings.Repeat("<a/>", 10) + `</message>`, lim: Limits{MaxElements: 10}},
		{name: "namespace declarations", in: `<message>` + nsFlood(2, maxNSInScope/2) + `</message>`},
		{name: "size", in: `<message>` + strings.Repeat("a", 1024-len("<message></message>")) + `</message>`, lim: Limits{MaxStanza: 1024}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := scanOne(t, header, tt.in, tt.lim); err != nil {
				t.Fatalf("Next = %v; want the element accepted at the limit", err)
			}
		})
	}
}

func TestJIDMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "bad to", in: `<message to='@example.com' id='m1'><body>hi</body></message>`},
		{name: "bad from", in: `<message from='juliet@example.com/' id='m1'><body>hi</body></message>`},
		{name: "empty to", in: `<message to='' id='m1'><body>hi</body></message>`},
		{name: "forbidden character", in: `<message to='ju&quot;liet@example.com' id='m1'><body>hi</body></message>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(strings.NewReader(header+tt.in+` <presence/>`), Limits{})
			if _, err := s.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			var st xmpp.Stanza
			err := s.Next(&st)
			var se *xmpp.StanzaError
			if !errors.As(err, &se) || se.Condition != xmpp.JIDMalformed {
				t.Fatalf("Next = %v; want a jid-malformed stanza error", err)
			}
			if st.Kind != xmpp.KindMessage || st.ID != "m1" || !st.To.IsZero() || !st.From.IsZero() || string(st.Inner) != "<body>hi</body>" {
				t.Errorf("stanza not filled: %s", &st)
			}
			if err := s.Next(&st); err != nil || st.Kind != xmpp.KindPresence {
				t.Fatalf("Next after a stanza error = %v, %s; want the presence", err, &st)
			}
		})
	}
}

// collect scans everything after the header and returns each element's wire
// form, ending with the final error.
func collect(t *testing.T, s *Scanner) []string {
	t.Helper()
	var out []string
	var st xmpp.Stanza
	for {
		err := s.Next(&st)
		if err != nil {
			return append(out, "error: "+condition(err))
		}
		out = append(out, st.String())
	}
}

func TestStreamModes(t *testing.T) {
	tests := []struct {
		name string
		hdr  string
		in   string
		want []string
	}{
		{
			name: "tcp end of stream",
			hdr:  header,
			in:   `<presence/></stream:stream>`,
			want: []string{`<presence xml:lang="en"/>`, "error: EOF"},
		},
		{
			name: "whitespace keepalives",
			hdr:  header,
			in:   " \n\t\r <presence/> \n \n<message/>\t </stream:stream >",
			want: []string{`<presence xml:lang="en"/>`, `<message xml:lang="en"/>`, "error: EOF"},
		},
		{
			name: "empty stream element",
			hdr:  `<stream:stream ` + streamNS + ` version='1.0'/>`,
			in:   `<presence/>`,
			want: []string{"error: EOF"},
		},
		{
			name: "input ends without the end tag",
			hdr:  header,
			in:   `<presence/> `,
			want: []string{`<presence xml:lang="en"/>`, "error: unexpected EOF"},
		},
		{
			name: "input ends inside an element",
			hdr:  header,
			in:   `<message><body>hel`,
			want: []string{"error: unexpected EOF"},
		},
		{
			name: "input ends inside the stream's end tag",
			hdr:  header,
			in:   `<presence/></stream:str`,
			want: []string{`<presence xml:lang="en"/>`, "error: unexpected EOF"},
		},
		{
			name: "input ends after an error",
			hdr:  header,
			in:   `<message><!-- x`,
			want: []string{"error: " + string(xmpp.StreamRestrictedXML)},
		},
		{
			name: "framed close",
			hdr:  framed,
			in:   `<message xmlns='jabber:client'/><close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/><message xmlns='jabber:client'/>`,
			want: []string{`<message xml:lang="en"/>`, "error: EOF"},
		},
		{
			name: "framed stanzas without close",
			hdr:  framed,
			in:   `<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: []string{`<iq id="1" type="get" xml:lang="en"><ping xmlns='urn:xmpp:ping'/></iq>`, "error: unexpected EOF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(tt.hdr + tt.in)
				if oneByte {
					rd = iotest.OneByteReader(rd)
				}
				s := New(rd, Limits{})
				if _, err := s.ReadHeader(); err != nil {
					t.Fatal(err)
				}
				got := collect(t, s)
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Fatalf("one-byte reads %v:\n got %q\nwant %q", oneByte, got, tt.want)
				}
				var st xmpp.Stanza
				if err := s.Next(&st); "error: "+condition(err) != got[len(got)-1] {
					t.Fatalf("Next after the end = %v; want the same result again", err)
				}
			}
		})
	}
}

func TestRestart(t *testing.T) {
	tests := []struct {
		name string
		// first is read up to and including the SASL success point,
		// then Reset(second or the same reader, keep).
		first  string
		second string // "" means: the same reader, keepBuffered true
		want   []string
	}{
		{
			name: "pipelined after sasl survive",
			first: header + `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>` +
				`<?xml version='1.0'?><stream:stream ` + streamNS + ` to='example.com' version='1.0'>` +
				`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq><presence/>`,
			want: []string{`<iq id="b" type="set"><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, `<presence/>`, "error: unexpected EOF"},
		},
		{
			name: "websocket restart",
			first: framed + `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>` +
				`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>` +
				`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`,
			want: []string{`<iq id="b" type="set"><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, "error: unexpected EOF"},
		},
		{
			name:   "bytes before starttls discarded",
			first:  header + `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message>injected</message>`,
			second: header + `<presence/>`,
			want:   []string{`<presence xml:lang="en"/>`, "error: unexpected EOF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				wrap := func(s string) io.Reader {
					if oneByte {
						return iotest.OneByteReader(strings.NewReader(s))
					}
					return strings.NewReader(s)
				}
				rd := wrap(tt.first)
				s := New(rd, Limits{})
				if _, err := s.ReadHeader(); err != nil {
					t.Fatal(err)
				}
				var st xmpp.Stanza
				if err := s.Next(&st); err != nil {
					t.Fatal(err)
				}
				if tt.second == "" {
					s.Reset(rd, true)
				} else {
					s.Reset(wrap(tt.second), false)
				}
				if _, err := s.ReadHeader(); err != nil {
					t.Fatalf("ReadHeader after restart: %v", err)
				}
				if got := collect(t, s); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Fatalf("one-byte reads %v:\n got %q\nwant %q", oneByte, got, tt.want)
				}
			}
		})
	}
}

func TestSplitAcrossReads(t *testing.T) {
	msg := `<message to='juliet@example.com' id='x' type='chat'><body>` + strings.Repeat("long text ", 300) +
		`</body><request xmlns='urn:xmpp:receipts'/><![CDATA[ ]] ]]]]><x a='>"/>' b="'"/></message>`
	want, err := scanOne(t, header, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]func(io.Reader) io.Reader{
		"one byte":  iotest.OneByteReader,
		"half":      iotest.HalfReader,
		"data+err":  iotest.DataErrReader,
		"3 at once": func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 3} },
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			s := New(wrap(strings.NewReader(header+msg+msg)), Limits{})
			if _, err := s.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				var st xmpp.Stanza
				if err := s.Next(&st); err != nil {
					t.Fatal(err)
				}
				if st.String() != want.String() || st.Payload != want.Payload {
					t.Fatalf("got %s; want %s", &st, want)
				}
			}
		})
	}
}

// chunkReader returns at most n bytes per read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func TestBufferShrinks(t *testing.T) {
	big := `<message id='big'><body>` + strings.Repeat("x", 100<<10) + `</body></message>`
	s := New(strings.NewReader(header+big+`<presence/><presence/>`), Limits{})
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var st xmpp.Stanza
	if err := s.Next(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Inner) != len(big)-len("<message id='big'></message>") {
		t.Fatalf("len(Inner) = %d", len(st.Inner))
	}
	if len(s.buf) > minBuf {
		t.Fatalf("buffer is %d bytes after the large stanza; want %d", len(s.buf), minBuf)
	}
	for _, a := range s.topAttrs[:cap(s.topAttrs)] {
		if a.name != nil || a.val != nil {
			t.Fatal("scratch space still points into the released buffer")
		}
	}
	if err := s.Next(&st); err != nil || st.Name != "presence" {
		t.Fatalf("Next = %v, %s", err, &st)
	}
	if s.Buffered() == 0 {
		t.Fatal("the second presence should still be buffered")
	}
	s.Shrink()
	if s.buf == nil {
		t.Fatal("Shrink dropped a buffer holding unread bytes")
	}
	if err := s.Next(&st); err != nil || st.Name != "presence" {
		t.Fatalf("Next = %v, %s", err, &st)
	}
	s.Shrink()
	if s.buf != nil || s.Buffered() != 0 {
		t.Fatalf("Shrink kept %d bytes of buffer while idle", len(s.buf))
	}
}

// endless is an element that never ends.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += len(p)
	return len(p), nil
}

func TestLimitBeforeBuffering(t *testing.T) {
	const max = 4096
	src := &endless{}
	s := New(io.MultiReader(strings.NewReader(header+`<message><body>`), src), Limits{MaxStanza: max})
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var st xmpp.Stanza
	if err := s.Next(&st); condition(err) != string(xmpp.StreamPolicyViolation) {
		t.Fatalf("Next = %v; want policy-violation", err)
	}
	if src.n > max+minBuf || len(s.buf) > max+minBuf {
		t.Fatalf("read %d bytes into a %d-byte buffer for a %d-byte limit", src.n, len(s.buf), max)
	}
}

// flaky fails its first read with a timeout-like error.
type flaky struct {
	r      io.Reader
	failed bool
}

var errTimeout = errors.New("i/o timeout")

func (f *flaky) Read(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errTimeout
	}
	return f.r.Read(p)
}

func TestReadErrorIsNotFinal(t *testing.T) {
	rd := &flaky{r: strings.NewReader(`dy>hi</body></message>`)}
	s := New(io.MultiReader(strings.NewReader(header+`<message><bo`), rd), Limits{})
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var st xmpp.Stanza
	if err := s.Next(&st); !errors.Is(err, errTimeout) {
		t.Fatalf("Next = %v; want the reader's error", err)
	}
	if err := s.Next(&st); err != nil || string(st.Inner) != "<body>hi</body>" {
		t.Fatalf("Next after a read error = %v, %s", err, &st)
	}
}

func TestSteadyStateAllocations(t *testing.T) {
	msg := []byte(`<message to='Juliet@example.com/balcony' id='abc123' type='chat' xml:lang='en'><body>Hello there</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	var in bytes.Buffer
	in.WriteString(header)
	for range 200 {
		in.Write(msg)
	}
	s := New(&in, Limits{})
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var st xmpp.Stanza
	if err := s.Next(&st); err != nil { // warm up: buffers and caches
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.Next(&st); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the id string
		t.Fatalf("%v allocations per stanza; want at most 1", allocs)
	}

	// A session that reads one stanza per read and shrinks whenever it
	// has consumed everything.
	s = New(io.MultiReader(strings.NewReader(header), &chunkReader{r: &repeatReader{data: msg}, n: len(msg)}), Limits{})
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if err := s.Next(&st); err != nil {
			t.Fatal(err)
		}
		if s.Buffered() == 0 {
			s.Shrink()
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per stanza with Shrink; want at most 1", allocs)
	}
}
