package xmlscan

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/parley-im/parley/xmpp"
)

// Stream headers the fuzz targets put in front of their input. The TCP one
// declares an extra prefix, so that inputs can use a prefix known only from
// the header.
const (
	fuzzHeaderTCP    = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:ext='urn:example:ext' to='example.com' version='1.0' xml:lang='en'>`
	fuzzHeaderFramed = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0' xml:lang='en'/>`
	// wrapHeader is what re-encoded stanzas are written into.
	wrapHeader = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' version='1.0'>`
)

// smallLimits make the limit paths reachable by fuzzed inputs.
var smallLimits = Limits{MaxStanza: 1024, MaxDepth: 6, MaxAttrs: 6, MaxElements: 40}

// scanAll scans header+data to its end and returns one line per Next.
func scanAll(t *testing.T, header string, data []byte, oneByte bool, lim Limits) []string {
	t.Helper()
	var rd io.Reader = bytes.NewReader(append([]byte(header), data...))
	if oneByte {
		rd = iotest.OneByteReader(rd)
	}
	s := New(rd, lim)
	if _, err := s.ReadHeader(); err != nil {
		t.Fatalf("header: %v", err)
	}
	var out []string
	var st xmpp.Stanza
	for i := 0; ; i++ {
		if i > len(data)+1 {
			t.Fatalf("Next made no progress after %d elements", i)
		}
		err := s.Next(&st)
		var (
			se  *xmpp.StreamError
			sze *xmpp.StanzaError
		)
		switch {
		case err == nil:
			out = append(out, st.String())
			continue
		case errors.As(err, &sze):
			out = append(out, "stanza error "+string(sze.Condition)+": "+st.String())
			continue
		case errors.As(err, &se):
			out = append(out, "stream error "+string(se.Condition)+": "+se.Text)
		case err == io.EOF, err == io.ErrUnexpectedEOF:
			out = append(out, err.Error())
		default:
			t.Fatalf("Next returned %T %v", err, err)
		}
		if again := s.Next(&st); again != err && again.Error() != err.Error() {
			t.Fatalf("Next after %v returned %v", err, again)
		}
		return out
	}
}

// FuzzScan feeds arbitrary bytes after a valid header, in both stream modes
// and with default and small limits. Next must not panic or loop, must
// return only the documented errors, and must give the same results whether
// the input arrives at once or one byte per read.
func FuzzScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, header := range []string{fuzzHeaderTCP, fuzzHeaderFramed} {
			for _, lim := range []Limits{{}, smallLimits} {
				bulk := scanAll(t, header, data, false, lim)
				one := scanAll(t, header, data, true, lim)
				if !slices.Equal(bulk, one) {
					t.Fatalf("results differ with one-byte reads (limits %+v):\nbulk: %q\n one: %q", lim, bulk, one)
				}
			}
		}
	})
}

// FuzzScanDifferential checks every element Next accepts against
// encoding/xml: re-encoded with Append and wrapped in a stream it must be
// well-formed for encoding/xml, mean the same as the original (names,
// namespaces, attributes and text, element by element) and scan back to the
// same Stanza.
func FuzzScanDifferential(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(bytes.NewReader(append([]byte(fuzzHeaderTCP), data...)), Limits{})
		if _, err := s.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		ref := newRefReader(t, fuzzHeaderTCP+string(data))
		var st xmpp.Stanza
		for {
			err := s.Next(&st)
			var sze *xmpp.StanzaError
			if err != nil && !errors.As(err, &sze) {
				return
			}
			orig := ref.next()
			if err != nil {
				continue // bounced, never forwarded
			}
			wire := st.Append(nil, xmpp.NSClient)
			got := treeOf(t, wrapHeader+string(wire)+"</stream:stream>", "en")
			if len(got) != 1 {
				t.Fatalf("re-encoded %q: encoding/xml sees %d elements", wire, len(got))
			}
			if !slices.Equal(orig, got[0]) {
				t.Fatalf("meaning changed:\n  in: %q\n out: %q\noriginal tree:   %q\nre-encoded tree: %q", data, wire, orig, got[0])
			}
			checkHeaderFields(t, &st, wire)
			checkRoundTrip(t, &st, wire)
		}
	})
}

// checkHeaderFields compares what encoding/xml reads from the re-encoded
// start tag with the Stanza's routing fields.
func checkHeaderFields(t *testing.T, st *xmpp.Stanza, wire []byte) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(wrapHeader + string(wire)))
	d.Token() // the stream
	tok, err := d.Token()
	if err != nil {
		t.Fatalf("re-encoded %q: %v", wire, err)
	}
	se, ok := tok.(xml.StartElement)
	if !ok {
		t.Fatalf("re-encoded %q starts with %T", wire, tok)
	}
	if se.Name.Space != st.Space || se.Name.Local != st.Name {
		t.Fatalf("re-encoded %q: encoding/xml name %v, scanner {%s}%s", wire, se.Name, st.Space, st.Name)
	}
	want := map[string]string{"to": st.To.String(), "from": st.From.String(), "id": st.ID, "type": st.Type}
	for _, a := range se.Attr {
		if v, ok := want[a.Name.Local]; ok && a.Name.Space == "" {
			if a.Value != v {
				t.Fatalf("re-encoded %q: %s=%q, scanner %q", wire, a.Name.Local, a.Value, v)
			}
			delete(want, a.Name.Local)
		}
	}
	for k, v := range want {
		if v != "" {
			t.Fatalf("re-encoded %q: encoding/xml has no %s, scanner %q", wire, k, v)
		}
	}
}

// checkRoundTrip scans the re-encoded element again and expects the same
// Stanza.
func checkRoundTrip(t *testing.T, st *xmpp.Stanza, wire []byte) {
	t.Helper()
	s := New(strings.NewReader(fuzzHeaderTCP+string(wire)), Limits{})
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var again xmpp.Stanza
	if err := s.Next(&again); err != nil {
		t.Fatalf("re-encoded %q does not scan: %v", wire, err)
	}
	if again.String() != st.String() || again.Kind != st.Kind || again.Payload != st.Payload || again.Lang != st.Lang {
		t.Fatalf("round trip changed the stanza:\nfirst:  %s %v %v\nsecond: %s %v %v", st, st.Kind, st.Payload, &again, again.Kind, again.Payload)
	}
}

// refReader reads the original stream with encoding/xml, one top-level
// element at a time.
type refReader struct {
	t    *testing.T
	d    *xml.Decoder
	lang string
}

func newRefReader(t *testing.T, doc string) *refReader {
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("encoding/xml: header: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return &refReader{t: t, d: d, lang: attrValue(se.Attr, xmpp.NSXML, "lang")}
		}
	}
}

// next returns the tree of the next top-level element.
func (r *refReader) next() []string {
	r.t.Helper()
	for {
		tok, err := r.d.Token()
		if err != nil {
			r.t.Fatalf("encoding/xml rejects input the scanner accepted: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			tree, err := subtree(r.d, se, r.lang)
			if err != nil {
				r.t.Fatalf("encoding/xml rejects input the scanner accepted: %v", err)
			}
			return tree
		}
	}
}

// treeOf returns the trees of the top-level elements of a stream.
func treeOf(t *testing.T, doc, lang string) [][]string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var out [][]string
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return out
			}
			t.Fatalf("encoding/xml rejects re-encoded %q: %v", doc, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				depth++
				continue
			}
			tree, err := subtree(d, tok, lang)
			if err != nil {
				t.Fatalf("encoding/xml rejects re-encoded %q: %v", doc, err)
			}
			out = append(out, tree)
		case xml.EndElement:
			depth--
		}
	}
}

// subtree flattens the element that starts with se into lines: resolved
// names, attributes other than namespace declarations (sorted, white space
// normalised as XML 1.0 §3.3.3 asks and encoding/xml does not), text runs
// and end tags. The top element's language is its effective one, and its
// addresses are normalised.
func subtree(d *xml.Decoder, se xml.StartElement, lang string) ([]string, error) {
	var out []string
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, "T "+text.String())
			text.Reset()
		}
	}
	start := func(se xml.StartElement, top bool) {
		flush()
		var attrs []string
		for _, a := range se.Attr {
			if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
				continue
			}
			v := normSpace.Replace(a.Value)
			if top && a.Name.Space == "" && (a.Name.Local == "to" || a.Name.Local == "from") {
				if j, err := xmpp.ParseJID(v); err == nil {
					v = j.String()
				}
			}
			if top && a.Name.Space == xmpp.NSXML && a.Name.Local == "lang" {
				continue
			}
			attrs = append(attrs, fmt.Sprintf("{%s}%s=%q", a.Name.Space, a.Name.Local, v))
		}
		slices.Sort(attrs)
		if top {
			l := lang
			for _, a := range se.Attr {
				if a.Name.Space == xmpp.NSXML && a.Name.Local == "lang" {
					l = normSpace.Replace(a.Value)
				}
			}
			attrs = append(attrs, "lang="+l)
		}
		out = append(out, fmt.Sprintf("S {%s}%s %s", se.Name.Space, se.Name.Local, strings.Join(attrs, " ")))
	}
	start(se, true)
	depth := 1
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			start(tok, false)
			depth++
		case xml.EndElement:
			flush()
			out = append(out, "E")
			depth--
		case xml.CharData:
			text.Write(tok)
		default:
			return nil, fmt.Errorf("unexpected %T inside an element", tok)
		}
	}
	return out, nil
}

// normSpace does what attribute-value normalisation does to the white space
// encoding/xml leaves in (it has already turned "\r\n" into "\n").
var normSpace = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func attrValue(attrs []xml.Attr, space, local string) string {
	for _, a := range attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// FuzzStanzaHeader builds one element from fuzzed routing values, written
// with correct escaping, and checks that the scanner reads back exactly
// those values: id, type and xml:lang verbatim, to and from as ParseJID
// normalises them (or jid-malformed), the name and the payload's name.
func FuzzStanzaHeader(f *testing.F) {
	f.Add("message", "juliet@example.com/balcony", "", "ab12", "chat", "", "body", "Hi")
	f.Add("iq", "example.com", "romeo@example.net/orchard", "x&y<z>", "get", "de", "ping", "")
	f.Add("presence", "", "", "", "unavailable", "en-GB", "", "")
	f.Add("message", "Juliet@EXAMPLE.com", "romeo@example.net/\"q\"", "\t id\n", "chat", "", "body", "a]]b")
	f.Fuzz(func(t *testing.T, name, to, from, id, typ, lang, child, text string) {
		if !isNCName(name) || child != "" && !isNCName(child) {
			return // names are FuzzScan's business; here they frame the values
		}
		var b []byte
		b = append(b, '<')
		b = append(b, name...)
		for _, a := range [][2]string{{"to", to}, {"from", from}, {"id", id}, {"type", typ}, {"xml:lang", lang}} {
			if a[1] != "" {
				b = append(b, ' ')
				b = append(b, a[0]...)
				b = append(b, `="`...)
				b = xmpp.AppendEscaped(b, a[1], true)
				b = append(b, '"')
			}
		}
		b = append(b, '>')
		if child != "" {
			b = append(b, '<')
			b = append(b, child...)
			b = append(b, " xmlns='urn:example:child'/>"...)
		}
		b = xmpp.AppendEscaped(b, text, false)
		b = append(b, "</"...)
		b = append(b, name...)
		b = append(b, '>')

		s := New(bytes.NewReader(append([]byte(fuzzHeaderTCP), b...)), Limits{})
		if _, err := s.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		var st xmpp.Stanza
		err := s.Next(&st)
		valid := allChars(to, from, id, typ, lang, text)
		if !valid {
			var se *xmpp.StreamError
			if err == nil || !errors.As(err, &se) {
				t.Fatalf("scanning %q: got %v, want a stream error", b, err)
			}
			return
		}
		wantTo, toErr := parseOpt(to)
		wantFrom, fromErr := parseOpt(from)
		var sze *xmpp.StanzaError
		switch {
		case toErr != nil || fromErr != nil:
			if !errors.As(err, &sze) || sze.Condition != xmpp.JIDMalformed {
				t.Fatalf("scanning %q: got %v, want jid-malformed", b, err)
			}
		case err != nil:
			t.Fatalf("scanning %q: %v", b, err)
		}
		wantLang := lang
		if lang == "" {
			wantLang = "en"
		}
		if st.Name != name || st.Space != xmpp.NSClient || st.ID != id || st.Type != typ || st.Lang != wantLang ||
			st.To != wantTo || st.From != wantFrom {
			t.Fatalf("scanning %q: got name %q space %q id %q type %q lang %q to %q from %q", b, st.Name, st.Space, st.ID, st.Type, st.Lang, st.To, st.From)
		}
		if child != "" && (st.Payload.Local != child || st.Payload.Space != "urn:example:child") {
			t.Fatalf("scanning %q: payload %v", b, st.Payload)
		}
	})
}

func parseOpt(s string) (xmpp.JID, error) {
	if s == "" {
		return xmpp.JID{}, nil
	}
	return xmpp.ParseJID(s)
}

// isNCName reports whether s is an NCName the scanner accepts.
func isNCName(s string) bool {
	n, err := scanNCName([]byte(s + " "))
	return s != "" && err == nil && n == len(s)
}

func allChars(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
		for _, r := range s {
			if !isChar(r) {
				return false
			}
		}
	}
	return true
}
