package xmlscan

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestEverySplit cuts each input at every byte and checks that two reads
// give what one read gives: the scanner must tell "more input needed" from
// "error" at every position.
func TestEverySplit(t *testing.T) {
	inputs := []string{
		`<message to='juliet@example.com' id='a&amp;1' type='chat'><body>Hi &#x1F600; é</body><request xmlns='urn:xmpp:receipts'/></message>`,
		`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq> <presence/>`,
		`<message><x a="'>" b='"/>'/><![CDATA[ ]] ]]]]><![CDATA[]]></message></stream:stream>`,
		`<c:message xmlns:c='jabber:client'><body>x</body></c:message>`,
		`<message><!-- c --></message>`,
		`<message><![CDATX[</message>`,
		`<message>&nbsp;</message>`,
		`<message>a]]>b</message>`,
		"<message>\xc3\x28</message>",
		`<message><a></b></message>`,
		`<message a='1'a='2'/>`,
		`<message><?pi?></message>`,
		`<message><!DOCTYPE x></message>`,
		`<message to='@bad'/><presence/>`,
		`text`,
		`</stream:stream>`,
		`</stream:streamx>`,
		`<message><body>` + strings.Repeat("0123456789", 25) + `</body></message>`,
		`<message><body>` + strings.Repeat("0123456789", 25) + `<!-- late comment --></body></message>`,
	}
	for _, in := range inputs {
		for _, lim := range []Limits{{}, {MaxStanza: 200, MaxDepth: 1, MaxAttrs: 2, MaxElements: 2}} {
			want := collect(t, newTestScanner(t, strings.NewReader(header+in), lim))
			for k := 0; k <= len(in); k++ {
				rd := &splitReader{parts: [][]byte{[]byte(header + in[:k]), []byte(in[k:])}}
				got := collect(t, newTestScanner(t, rd, lim))
				if !slices.Equal(got, want) {
					t.Fatalf("%q split at %d (limits %+v):\n got %q\nwant %q", in, k, lim, got, want)
				}
			}
		}
	}
}

func newTestScanner(t *testing.T, r io.Reader, lim Limits) *Scanner {
	t.Helper()
	s := New(r, lim)
	if _, err := s.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	return s
}

// splitReader returns its parts one per read.
type splitReader struct{ parts [][]byte }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// TestNameTables checks the generated name tables against their definition
// (see gen_names.go): at both ends of every range and at a sample of the
// Basic Multilingual Plane.
func TestNameTables(t *testing.T) {
	var runes []rune
	for r := rune(0x80); r <= 0xFFFF; r += 7 {
		runes = append(runes, r)
	}
	for _, tab := range []*unicode.RangeTable{nameStartTable, nameCharTable} {
		for _, rg := range tab.R16 {
			runes = append(runes, rune(rg.Lo)-1, rune(rg.Lo), rune(rg.Hi), rune(rg.Hi)+1)
		}
		for _, rg := range tab.R32 {
			runes = append(runes, rune(rg.Lo)-1, rune(rg.Lo), rune(rg.Hi), rune(rg.Hi)+1)
		}
	}
	accepts := func(doc string) bool {
		d := xml.NewDecoder(bytes.NewReader([]byte(doc)))
		for {
			if _, err := d.Token(); err != nil {
				return err == io.EOF
			}
		}
	}
	for _, r := range runes {
		if r < 0x80 || r >= 0xD800 && r <= 0xDFFF || r > unicode.MaxRune {
			continue
		}
		start := isNameStart5(r) && accepts("<"+string(r)+"/>")
		char := (isNameStart5(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040) && accepts("<a"+string(r)+"/>")
		if unicode.Is(nameStartTable, r) != start || unicode.Is(nameCharTable, r) != char {
			t.Fatalf("U+%04X: tables say start %v char %v; want %v %v (run go generate)", r,
				unicode.Is(nameStartTable, r), unicode.Is(nameCharTable, r), start, char)
		}
	}
}

// isNameStart5 is production [4] of XML 1.0 (fifth edition), non-ASCII part.
func isNameStart5(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}
