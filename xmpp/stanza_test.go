package xmpp

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{kind: KindMessage, want: "message"},
		{kind: KindPresence, want: "presence"},
		{kind: KindIQ, want: "iq"},
		{kind: KindOther, want: "other"},
		{kind: Kind(42), want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name     string
		st       Stanza
		streamNS string
		want     string
	}{
		{
			name:     "chat message",
			st:       Stanza{Kind: KindMessage, Name: "message", Space: NSClient, ID: "a1", Type: "chat", To: MustParseJID("juliet@example.com"), From: MustParseJID("romeo@example.net/orchard"), Inner: []byte("<body>Hi</body>")},
			streamNS: NSClient,
			want:     `<message to="juliet@example.com" from="romeo@example.net/orchard" id="a1" type="chat"><body>Hi</body></message>`,
		},
		{
			name:     "namespace written for a websocket stream",
			st:       Stanza{Name: "presence", Space: NSClient},
			streamNS: "",
			want:     `<presence xmlns="jabber:client"/>`,
		},
		{
			name:     "nonza with attributes",
			st:       Stanza{Name: "a", Space: "urn:xmpp:sm:3", Attrs: []Attr{{Name: "h", Value: "3"}}},
			streamNS: NSClient,
			want:     `<a xmlns="urn:xmpp:sm:3" h="3"/>`,
		},
		{
			name:     "values escaped",
			st:       Stanza{Name: "message", Space: NSClient, ID: "<&>\"'\t\n\r", Lang: "de", Attrs: []Attr{{Name: "xmlns:p", Value: "urn:p"}, {Name: "p:x", Value: "a b"}}},
			streamNS: NSClient,
			want:     `<message id="&lt;&amp;&gt;&quot;&apos;&#x9;&#xA;&#xD;" xml:lang="de" xmlns:p="urn:p" p:x="a b"/>`,
		},
		{
			name:     "no namespace in a client stream",
			st:       Stanza{Name: "x", Space: ""},
			streamNS: NSClient,
			want:     `<x xmlns=""/>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.st.Append(nil, tt.streamNS))
			if got != tt.want {
				t.Fatalf("Append = %s\n          want %s", got, tt.want)
			}
			// The result must be well-formed in a stream of that namespace.
			doc := `<stream:stream xmlns="` + tt.streamNS + `" xmlns:stream="` + NSStream + `">` + got + `</stream:stream>`
			d := xml.NewDecoder(strings.NewReader(doc))
			for {
				tok, err := d.Token()
				if err != nil {
					if err.Error() == "EOF" {
						break
					}
					t.Fatalf("encoding/xml: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && se.Name.Local == tt.st.Name && se.Name.Space != tt.st.Space {
					t.Fatalf("namespace %q; want %q", se.Name.Space, tt.st.Space)
				}
			}
		})
	}
}

func TestStanzaResetCloneAttr(t *testing.T) {
	st := &Stanza{Kind: KindIQ, Name: "iq", ID: "x", Attrs: []Attr{{Name: "a", Value: "1"}}, Inner: []byte("<x/>")}
	c := st.Clone()
	c.Inner[1] = 'y'
	c.Attrs[0].Value = "2"
	if string(st.Inner) != "<x/>" || st.Attr("a") != "1" {
		t.Fatalf("Clone shares memory: %s", st)
	}
	if c.Attr("a") != "2" || c.Attr("missing") != "" {
		t.Fatalf("Attr on clone: %q %q", c.Attr("a"), c.Attr("missing"))
	}
	innerCap, attrCap := cap(st.Inner), cap(st.Attrs)
	st.Reset()
	if st.Kind != KindOther || st.ID != "" || len(st.Inner) != 0 || len(st.Attrs) != 0 || cap(st.Inner) != innerCap || cap(st.Attrs) != attrCap {
		t.Fatalf("Reset: %+v (caps %d %d)", st, cap(st.Inner), cap(st.Attrs))
	}
}

func TestStanzaPool(t *testing.T) {
	st := GetStanza()
	st.ID = "x"
	st.Inner = make([]byte, 0, 128<<10)
	PutStanza(st)
	got := GetStanza()
	defer PutStanza(got)
	if got.ID != "" || len(got.Inner) != 0 || cap(got.Inner) > 64<<10 {
		t.Fatalf("pooled stanza not reset or large buffer kept: id %q cap %d", got.ID, cap(got.Inner))
	}
}

func TestDecoderAndPayload(t *testing.T) {
	st := &Stanza{
		Name: "iq", Space: NSClient,
		Attrs: []Attr{{Name: "xmlns:ext", Value: "urn:ext"}, {Name: "foo", Value: "bar"}},
		Inner: []byte(`<query xmlns='jabber:iq:version'><name>Parley</name></query><ext:note>n</ext:note><plain>p</plain>`),
	}
	var v struct {
		XMLName xml.Name `xml:"jabber:iq:version query"`
		Name    string   `xml:"name"`
	}
	if err := st.UnmarshalPayload(&v); err != nil || v.Name != "Parley" {
		t.Fatalf("UnmarshalPayload = %v, %+v", err, v)
	}
	tests := []struct {
		name, space, local string
		want               string
		ok                 bool
	}{
		{name: "prefix from Attrs", space: "urn:ext", local: "note", want: "n", ok: true},
		{name: "default namespace", space: NSClient, local: "plain", want: "p", ok: true},
		{name: "nested is not direct", space: "jabber:iq:version", local: "name"},
		{name: "missing", space: "urn:none", local: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := st.ChildText(tt.space, tt.local)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ChildText(%q, %q) = %q, %v; want %q, %v", tt.space, tt.local, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		name string
		in   string
		attr bool
		want string
	}{
		{name: "text", in: `a<b>&c"d'e` + "\t\n\r", want: "a&lt;b&gt;&amp;c\"d'e\t\n&#xD;"},
		{name: "attribute", in: `a<b>&c"d'e` + "\t\n\r", attr: true, want: "a&lt;b&gt;&amp;c&quot;d&apos;e&#x9;&#xA;&#xD;"},
		{name: "plain", in: "héllo 🙂", want: "héllo 🙂"},
		{name: "cdata end", in: "]]>", want: "]]&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendEscaped([]byte("x"), tt.in, tt.attr)); got != "x"+tt.want {
				t.Errorf("AppendEscaped(%q, %v) = %q; want %q", tt.in, tt.attr, got, "x"+tt.want)
			}
		})
	}
}

var appendSink []byte

func BenchmarkStanzaAppend(b *testing.B) {
	st := &Stanza{Kind: KindMessage, Name: "message", Space: NSClient, ID: "5c0a8f7e-3b2d-4f61", Type: "chat",
		To: MustParseJID("juliet@example.com"), From: MustParseJID("romeo@example.net/orchard"), Lang: "en",
		Inner: []byte("<body>Art thou not Romeo, and a Montague?</body><request xmlns='urn:xmpp:receipts'/>")}
	buf := st.Append(nil, NSClient)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = st.Append(buf[:0], NSClient)
	}
	appendSink = buf
}
