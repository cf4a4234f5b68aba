package xmlscan

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parley-im/parley/xmpp"
)

const (
	streamNS = `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`
	header   = `<?xml version='1.0'?><stream:stream ` + streamNS + ` to='example.com' version='1.0' xml:lang='en'>`
	framed   = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0' xml:lang='en'/>`
)

// condition returns the condition of a *xmpp.StreamError, "" for nil and
// the error text for anything else.
func condition(err error) string {
	var se *xmpp.StreamError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return string(se.Condition)
	}
	return err.Error()
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Header
		cond xmpp.StreamCondition
	}{
		{
			name: "client stream",
			in:   `<?xml version='1.0' encoding='UTF-8'?><stream:stream from='juliet@example.com' to='example.com' id='x' version='1.0' xml:lang='en' ` + streamNS + `>`,
			want: Header{To: "example.com", From: "juliet@example.com", ID: "x", Version: "1.0", Lang: "en", NS: xmpp.NSClient, Prefix: "stream"},
		},
		{
			name: "no declaration, double quotes",
			in:   `<stream:stream to="example.com" version="1.0" xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">`,
			want: Header{To: "example.com", Version: "1.0", NS: xmpp.NSClient, Prefix: "stream"},
		},
		{
			name: "byte order mark and white space",
			in:   "\xEF\xBB\xBF\n <?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\" ?>\n<stream:stream version='1.0' " + streamNS + ">",
			want: Header{Version: "1.0", NS: xmpp.NSClient, Prefix: "stream"},
		},
		{
			name: "other prefix",
			in:   `<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' version='1.0'>`,
			want: Header{Version: "1.0", NS: xmpp.NSClient, Prefix: "s"},
		},
		{
			name: "escaped attribute",
			in:   `<stream:stream ` + streamNS + ` version='1.0' to='ex&amp;ample'>`,
			want: Header{To: "ex&ample", Version: "1.0", NS: xmpp.NSClient, Prefix: "stream"},
		},
		{
			name: "later version",
			in:   `<stream:stream ` + streamNS + ` version='2.3'>`,
			want: Header{Version: "2.3", NS: xmpp.NSClient, Prefix: "stream"},
		},
		{
			name: "websocket open",
			in:   framed,
			want: Header{To: "example.com", Version: "1.0", Lang: "en", NS: xmpp.NSFraming, Framed: true},
		},
		{name: "wrong stream namespace", in: `<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'>`, cond: xmpp.StreamInvalidNamespace},
		{name: "wrong stream name", in: `<stream:strea ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamInvalidNamespace},
		{name: "server namespace", in: `<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`, cond: xmpp.StreamInvalidNamespace},
		{name: "no content namespace", in: `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`, cond: xmpp.StreamInvalidNamespace},
		{name: "unprefixed stream element", in: `<stream xmlns='http://etherx.jabber.org/streams' version='1.0'>`, cond: xmpp.StreamInvalidNamespace},
		{name: "open in wrong namespace", in: `<open xmlns='urn:wrong' version='1.0'/>`, cond: xmpp.StreamInvalidNamespace},
		{name: "undeclared stream prefix", in: `<stream:stream xmlns='jabber:client' version='1.0'>`, cond: xmpp.StreamBadNamespacePrefix},
		{name: "no version", in: `<stream:stream ` + streamNS + `>`, cond: xmpp.StreamUnsupportedVersion},
		{name: "version 0.9", in: `<stream:stream ` + streamNS + ` version='0.9'>`, cond: xmpp.StreamUnsupportedVersion},
		{name: "malformed version", in: `<stream:stream ` + streamNS + ` version='one'>`, cond: xmpp.StreamUnsupportedVersion},
		{name: "websocket open without version", in: `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com'/>`, cond: xmpp.StreamUnsupportedVersion},
		{name: "declared encoding", in: `<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamUnsupportedEncoding},
		{name: "utf-16 byte order mark", in: "\xFF\xFE<\x00s\x00", cond: xmpp.StreamUnsupportedEncoding},
		{name: "xml version 2", in: `<?xml version='2.0'?><stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamNotWellFormed},
		{name: "malformed declaration", in: `<?xml version='1.0' bogus='1'?><stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamNotWellFormed},
		{name: "comment", in: `<!-- hi --><stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamRestrictedXML},
		{name: "doctype", in: `<!DOCTYPE stream [<!ENTITY x 'y'>]><stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamRestrictedXML},
		{name: "processing instruction", in: `<?xml-stylesheet href='a'?><stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamRestrictedXML},
		{name: "text", in: `hello <stream:stream ` + streamNS + ` version='1.0'>`, cond: xmpp.StreamNotWellFormed},
		{name: "end tag", in: `</stream:stream>`, cond: xmpp.StreamNotWellFormed},
		{name: "open not empty", in: `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' version='1.0'>`, cond: xmpp.StreamNotWellFormed},
		{name: "duplicate attribute", in: `<stream:stream ` + streamNS + ` version='1.0' version='1.0'>`, cond: xmpp.StreamNotWellFormed},
		{name: "too large", in: `<stream:stream ` + streamNS + ` version='1.0' x='` + strings.Repeat("a", maxHeader) + `'>`, cond: xmpp.StreamPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(strings.NewReader(tt.in), Limits{})
			h, err := s.ReadHeader()
			if got := condition(err); got != string(tt.cond) {
				t.Fatalf("ReadHeader() error %v; want condition %q", err, tt.cond)
			}
			if h != tt.want {
				t.Errorf("ReadHeader() = %+v; want %+v", h, tt.want)
			}
		})
	}
}

func TestReadHeaderEOF(t *testing.T) {
	s := New(strings.NewReader(`<stream:stream xmlns='jabber:cl`), Limits{})
	if _, err := s.ReadHeader(); err != io.ErrUnexpectedEOF {
		t.Fatalf("ReadHeader() error %v; want io.ErrUnexpectedEOF", err)
	}
	var st xmpp.Stanza
	if err := s.Next(&st); err != io.ErrUnexpectedEOF {
		t.Fatalf("Next() after a failed header: %v; want io.ErrUnexpectedEOF", err)
	}
}

func TestNextBeforeHeader(t *testing.T) {
	s := New(strings.NewReader(header), Limits{})
	var st xmpp.Stanza
	if err := s.Next(&st); err == nil || condition(err) == "" {
		t.Fatalf("Next() before ReadHeader: %v; want an error", err)
	}
}
