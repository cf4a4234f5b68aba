package xmpp

import (
	"encoding/xml"
	"strings"
	"testing"
)

// wellFormed parses doc with encoding/xml and returns its first element.
func wellFormed(t *testing.T, doc string) xml.StartElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var first *xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("%s: %v", doc, err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && first == nil {
			c := se.Copy()
			first = &c
		}
	}
	if first == nil {
		t.Fatalf("%s: no element", doc)
	}
	return *first
}

func TestDefaultType(t *testing.T) {
	tests := []struct {
		cond Condition
		want ErrorType
	}{
		{cond: BadRequest, want: Modify},
		{cond: JIDMalformed, want: Modify},
		{cond: Forbidden, want: Auth},
		{cond: NotAuthorized, want: Auth},
		{cond: InternalServerError, want: Wait},
		{cond: ResourceConstraint, want: Wait},
		{cond: ItemNotFound, want: Cancel},
		{cond: ServiceUnavailable, want: Cancel},
		{cond: FeatureNotImplemented, want: Cancel},
	}
	for _, tt := range tests {
		t.Run(string(tt.cond), func(t *testing.T) {
			if got := tt.cond.DefaultType(); got != tt.want {
				t.Errorf("DefaultType() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestStanzaErrorXML(t *testing.T) {
	tests := []struct {
		name    string
		err     *StanzaError
		want    string
		wantMsg string
	}{
		{
			name:    "condition only",
			err:     NewStanzaError(ItemNotFound, ""),
			want:    `<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`,
			wantMsg: "stanza error: item-not-found",
		},
		{
			name:    "text, by and app condition",
			err:     &StanzaError{Condition: BadRequest, Text: "a < b", By: "example.com", App: []byte(`<too-many xmlns='urn:x'/>`)},
			want:    `<error type="modify" by="example.com"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">a &lt; b</text><too-many xmlns='urn:x'/></error>`,
			wantMsg: "stanza error: bad-request: a < b",
		},
		{
			name:    "explicit type",
			err:     &StanzaError{Type: Wait, Condition: PolicyViolation},
			want:    `<error type="wait"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`,
			wantMsg: "stanza error: policy-violation",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.err.AppendXML(nil))
			if got != tt.want {
				t.Fatalf("AppendXML = %s\n        want %s", got, tt.want)
			}
			wellFormed(t, `<x xmlns="jabber:client">`+got+`</x>`)
			if tt.err.Error() != tt.wantMsg {
				t.Errorf("Error() = %q; want %q", tt.err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestErrorReply(t *testing.T) {
	tests := []struct {
		name  string
		st    Stanza
		reply bool
	}{
		{name: "iq get", st: Stanza{Kind: KindIQ, Name: "iq", Type: "get"}, reply: true},
		{name: "message", st: Stanza{Kind: KindMessage, Name: "message", Type: "chat"}, reply: true},
		{name: "iq result", st: Stanza{Kind: KindIQ, Name: "iq", Type: "result"}},
		{name: "error", st: Stanza{Kind: KindMessage, Name: "message", Type: "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.From, st.To = MustParseJID("romeo@example.net/orchard"), MustParseJID("juliet@example.com")
			st.Inner = []byte("<body>x</body>")
			ok := ErrorReply(&st, NewStanzaError(ServiceUnavailable, ""))
			if ok != tt.reply {
				t.Fatalf("ErrorReply = %v; want %v", ok, tt.reply)
			}
			if !ok {
				if st.Type != tt.st.Type || string(st.Inner) != "<body>x</body>" {
					t.Fatalf("stanza changed although no reply is due: %s", &st)
				}
				return
			}
			if st.Type != "error" || st.To.String() != "romeo@example.net/orchard" || st.From.String() != "juliet@example.com" ||
				!strings.HasPrefix(string(st.Inner), "<body>x</body><error type=\"cancel\">") {
				t.Fatalf("reply = %s", &st)
			}
			wellFormed(t, st.String())
		})
	}
}

func TestStreamErrorXML(t *testing.T) {
	tests := []struct {
		name   string
		err    *StreamError
		prefix string
		want   string
	}{
		{
			name:   "tcp",
			err:    NewStreamError(StreamNotWellFormed, ""),
			prefix: "stream",
			want:   `<stream:error><not-well-formed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
		},
		{
			name: "websocket with text",
			err:  NewStreamError(StreamPolicyViolation, "too big & bad"),
			want: `<error xmlns="http://etherx.jabber.org/streams"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">too big &amp; bad</text></error>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.err.AppendXML(nil, tt.prefix))
			if got != tt.want {
				t.Fatalf("AppendXML = %s\n        want %s", got, tt.want)
			}
			wellFormed(t, `<stream:stream xmlns:stream="`+NSStream+`">`+got+`</stream:stream>`)
		})
	}
	if got := NewStreamError(StreamConflict, "x").Error(); got != "stream error: conflict: x" {
		t.Errorf("Error() = %q", got)
	}
}
