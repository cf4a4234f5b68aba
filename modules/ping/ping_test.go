package ping

import (
	"errors"
	"testing"

	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

func TestPing(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.Provision(new(Module))
	tests := []struct {
		name     string
		typ      string
		to       string
		local    string // payload element name
		wantCond xmpp.Condition
	}{
		{name: "domain", typ: "get", to: "example.org", local: "ping"},
		{name: "own bare JID", typ: "get", to: "juliet@example.org", local: "ping"},
		{name: "no to", typ: "get", local: "ping"},
		{name: "another user's bare JID", typ: "get", to: "romeo@example.org", local: "ping", wantCond: xmpp.ServiceUnavailable},
		{name: "set", typ: "set", to: "example.org", local: "ping", wantCond: xmpp.NotAllowed},
		{name: "wrong element", typ: "get", to: "example.org", local: "pong", wantCond: xmpp.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := moduletest.NewStanza(xmpp.KindIQ, "p1", tc.typ, "juliet@example.org/balcony", tc.to,
				`<`+tc.local+` xmlns="`+NS+`"/>`)
			res, err := h.IQ(st)
			var se *xmpp.StanzaError
			switch {
			case tc.wantCond == "" && err != nil:
				t.Fatalf("error %v, want an empty result", err)
			case tc.wantCond != "" && (!errors.As(err, &se) || se.Condition != tc.wantCond):
				t.Fatalf("error %v, want %s", err, tc.wantCond)
			}
			if res != nil {
				t.Errorf("result %q, want empty", res)
			}
		})
	}
}
