package xmlscan

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/parley-im/parley/xmpp"
)

// Benchmark stanzas.
var (
	// benchMinimal is a minimal chat message (~140 bytes).
	benchMinimal = `<message to='juliet@example.com/balcony' id='ktx72v49' type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>`

	// benchModern is a message as Conversations or Gajim send it (~530
	// bytes): receipt request, markable, origin-id, chat state, hints.
	benchModern = `<message xmlns='jabber:client' to='juliet@example.com' id='5c0a8f7e-3b2d-4f61-9a1e-0d7c6b5a4e3f' type='chat'>` +
		`<body>Art thou not Romeo, and a Montague? Neither, fair saint, if either thee dislike. How cam'st thou hither?</body>` +
		`<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='5c0a8f7e-3b2d-4f61-9a1e-0d7c6b5a4e3f'/>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/>` +
		`<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>`

	// bench16K is a 16 KiB message.
	bench16K = `<message to='juliet@example.com' id='big1' type='chat'><body>` +
		strings.Repeat("0123456789abcdef", (16<<10-90)/16) + `</body></message>`
)

// repeatReader returns its data over and over.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func benchScan(b *testing.B, stanza string) {
	rd := io.MultiReader(strings.NewReader(header), &repeatReader{data: []byte(stanza)})
	s := New(rd, Limits{})
	if _, err := s.ReadHeader(); err != nil {
		b.Fatal(err)
	}
	var st xmpp.Stanza
	b.ReportAllocs()
	b.SetBytes(int64(len(stanza)))
	for b.Loop() {
		if err := s.Next(&st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanMinimal(b *testing.B) { benchScan(b, benchMinimal) }
func BenchmarkScanModern(b *testing.B)  { benchScan(b, benchModern) }
func BenchmarkScan16K(b *testing.B)     { benchScan(b, bench16K) }

// BenchmarkEncodingXMLModern is the baseline the scanner replaces: tokenising
// the same message with encoding/xml.
func BenchmarkEncodingXMLModern(b *testing.B) {
	rd := io.MultiReader(strings.NewReader(header), &repeatReader{data: []byte(benchModern)})
	d := xml.NewDecoder(rd)
	for {
		tok, err := d.Token()
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			break
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchModern)))
	for b.Loop() {
		depth := 0
		for {
			tok, err := d.Token()
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := tok.(xml.StartElement); ok {
				depth++
			} else if _, ok := tok.(xml.EndElement); ok {
				if depth--; depth == 0 {
					break
				}
			}
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, bb := range []struct{ name, stanza string }{{"minimal", benchMinimal}, {"modern", benchModern}} {
		b.Run(bb.name, func(b *testing.B) {
			st, err := scanOneB(bb.stanza)
			if err != nil {
				b.Fatal(err)
			}
			buf := st.Append(nil, xmpp.NSClient)
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				buf = st.Append(buf[:0], xmpp.NSClient)
			}
		})
	}
}

func scanOneB(stanza string) (*xmpp.Stanza, error) {
	s := New(strings.NewReader(header+stanza), Limits{})
	if _, err := s.ReadHeader(); err != nil {
		return nil, err
	}
	st := new(xmpp.Stanza)
	return st, s.Next(st)
}
