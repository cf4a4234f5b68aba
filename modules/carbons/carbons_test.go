package carbons

import (
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

func iq(from, to, typ, local string) *xmpp.Stanza {
	st := &xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: "c1", Type: typ,
		From:    xmpp.MustParseJID(from),
		Payload: xml.Name{Space: NS, Local: local},
		Inner:   []byte(`<` + local + ` xmlns="` + NS + `"/>`),
	}
	if to != "" {
		st.To = xmpp.MustParseJID(to)
	}
	return st
}

func msg(from, to, typ, inner string) *xmpp.Stanza {
	return &xmpp.Stanza{
		Kind: xmpp.KindMessage, Name: "message", Space: xmpp.NSClient, ID: "m1", Type: typ,
		From: xmpp.MustParseJID(from), To: xmpp.MustParseJID(to),
		Payload: xml.Name{Space: xmpp.NSClient, Local: "body"},
		Inner:   []byte(inner),
	}
}

// setup provisions the module with juliet's resources bound: balcony and
// chamber available at priority 0 with carbons enabled, garden available
// without carbons, and cellar enabled at priority -1.
func setup(t *testing.T) (*moduletest.Host, map[string]*moduletest.Session) {
	t.Helper()
	h := moduletest.NewHost(t, "example.org")
	h.Provision(new(Module))
	avail := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient}
	juliet := map[string]*moduletest.Session{}
	for _, r := range []string{"balcony", "chamber", "garden", "cellar"} {
		juliet[r] = h.Bind("juliet@example.org/" + r)
		juliet[r].SetAvailable(avail)
	}
	h.Bind("romeo@example.org/orchard").SetAvailable(avail)
	for _, r := range []string{"balcony", "chamber", "cellar"} {
		if _, err := h.IQ(iq("juliet@example.org/"+r, "", "set", "enable")); err != nil {
			t.Fatalf("enable %s: %v", r, err)
		}
	}
	juliet["cellar"].SetPriority(-1)
	return h, juliet
}

// copies returns the recipients of the carbon copies among the deliveries,
// checking that each wraps the original as XEP-0280 shows.
func copies(t *testing.T, h *moduletest.Host, kind string, orig *xmpp.Stanza) []string {
	t.Helper()
	var to []string
	for _, d := range h.Delivered() {
		c := d.Stanza
		if c.Payload != (xml.Name{Space: NS, Local: kind}) {
			continue
		}
		want := `<` + kind + ` xmlns="` + NS + `"><forwarded xmlns="` + NSForward + `">` +
			string(orig.Append(nil, "")) + `</forwarded></` + kind + `>`
		if string(c.Inner) != want {
			t.Errorf("copy content\n got %s\nwant %s", c.Inner, want)
		}
		if c.From != d.To.Bare() || c.To != d.To || c.Type != orig.Type {
			t.Errorf("copy header from=%s to=%s type=%q, want from=%s to=%s type=%q",
				c.From, c.To, c.Type, d.To.Bare(), d.To, orig.Type)
		}
		to = append(to, d.To.Resource())
	}
	slices.Sort(to)
	return to
}

func TestIQ(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.Provision(new(Module))
	h.Bind("juliet@example.org/balcony")
	tests := []struct {
		name     string
		to, typ  string
		local    string
		wantCond xmpp.Condition
	}{
		{name: "enable", typ: "set", local: "enable"},
		{name: "enable again", typ: "set", local: "enable"},
		{name: "enable to own bare JID", to: "juliet@example.org", typ: "set", local: "enable"},
		{name: "disable", typ: "set", local: "disable"},
		{name: "disable again", to: "example.org", typ: "set", local: "disable"},
		{name: "get", typ: "get", local: "enable", wantCond: xmpp.BadRequest},
		{name: "unknown element", typ: "set", local: "toggle", wantCond: xmpp.BadRequest},
		{name: "another user's account", to: "romeo@example.org", typ: "set", local: "enable", wantCond: xmpp.NotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.IQ(iq("juliet@example.org/balcony", tc.to, tc.typ, tc.local))
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

func TestSent(t *testing.T) {
	tests := []struct {
		name  string
		from  string
		to    string
		typ   string
		inner string
		want  []string // resources of juliet that get a <sent/> copy
	}{
		{name: "chat from an enabled resource", from: "balcony", to: "romeo@example.org/orchard", typ: "chat",
			inner: `<body>Wherefore &lt;art&gt; thou?</body>`, want: []string{"cellar", "chamber"}},
		{name: "chat from a resource without carbons", from: "garden", to: "romeo@example.org", typ: "chat",
			inner: `<body>hi</body>`, want: []string{"balcony", "cellar", "chamber"}},
		{name: "chat state only", from: "balcony", to: "romeo@example.org", typ: "chat",
			inner: `<active xmlns="http://jabber.org/protocol/chatstates"/>`, want: []string{"cellar", "chamber"}},
		{name: "normal with body", from: "balcony", to: "romeo@example.org", typ: "",
			inner: `<body>hi</body>`, want: []string{"cellar", "chamber"}},
		{name: "normal without body", from: "balcony", to: "romeo@example.org", typ: "normal",
			inner: `<x xmlns="jabber:x:data"/>`},
		{name: "headline", from: "balcony", to: "romeo@example.org", typ: "headline", inner: `<body>hi</body>`},
		{name: "private", from: "balcony", to: "romeo@example.org", typ: "chat",
			inner: `<body>hi</body><private xmlns="` + NS + `"/>`},
		{name: "no-copy hint", from: "balcony", to: "romeo@example.org", typ: "chat",
			inner: `<body>hi</body><no-copy xmlns="` + NSHints + `"/>`},
		{name: "private nested in a payload still copied", from: "balcony", to: "romeo@example.org", typ: "chat",
			inner: `<body>hi</body><x xmlns="urn:example"><private xmlns="` + NS + `"/></x>`, want: []string{"cellar", "chamber"}},
		{name: "a carbon copy", from: "balcony", to: "romeo@example.org", typ: "chat",
			inner: `<received xmlns="` + NS + `"><forwarded xmlns="` + NSForward + `"/></received>`},
		{name: "to the own account", from: "balcony", to: "juliet@example.org/garden", typ: "chat",
			inner: `<body>note to self</body>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := setup(t)
			st := msg("juliet@example.org/"+tc.from, tc.to, tc.typ, tc.inner)
			orig := st.Clone()
			if err := h.Send(st); err != nil {
				t.Fatal(err)
			}
			if r := h.Routed(); len(r) != 1 || r[0].String() != orig.String() {
				t.Fatalf("routed %v, want the original only", r)
			}
			if got := copies(t, h, "sent", orig); !slices.Equal(got, tc.want) {
				t.Errorf("sent copies to %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReceived(t *testing.T) {
	tests := []struct {
		name    string
		to      string
		typ     string
		deliver []string // juliet's resources the router delivers the original to
		want    []string // resources of juliet that get a <received/> copy
	}{
		{name: "directed chat", to: "juliet@example.org/balcony", typ: "chat",
			deliver: []string{"balcony"}, want: []string{"cellar", "chamber"}},
		{name: "directed chat to a resource without carbons", to: "juliet@example.org/garden", typ: "chat",
			deliver: []string{"garden"}, want: []string{"balcony", "cellar", "chamber"}},
		// A bare chat goes to every non-negative resource: only the
		// negative-priority one lacks it, and gets one copy, not three.
		{name: "bare chat", to: "juliet@example.org", typ: "chat",
			deliver: []string{"balcony", "chamber", "garden"}, want: []string{"cellar"}},
		{name: "unbound resource falls back to bare", to: "juliet@example.org/attic", typ: "chat",
			deliver: []string{"balcony", "chamber", "garden"}, want: []string{"cellar"}},
		{name: "headline", to: "juliet@example.org/balcony", typ: "headline", deliver: []string{"balcony"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := setup(t)
			st := msg("romeo@example.org/orchard", tc.to, tc.typ, `<body>It is my lady; O, it is my love!</body>`)
			orig := st.Clone()
			for _, r := range tc.deliver {
				if err := h.RunDeliver("juliet@example.org/"+r, st); err != nil {
					t.Fatal(err)
				}
			}
			if got := copies(t, h, "received", orig); !slices.Equal(got, tc.want) {
				t.Errorf("received copies to %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNormalToBareJIDCopiesLowerPriorities(t *testing.T) {
	h, juliet := setup(t)
	juliet["balcony"].SetPriority(5)
	st := msg("romeo@example.org/orchard", "juliet@example.org", "normal", `<body>hi</body>`)
	orig := st.Clone()
	if err := h.RunDeliver("juliet@example.org/balcony", st); err != nil {
		t.Fatal(err)
	}
	if got, want := copies(t, h, "received", orig), []string{"cellar", "chamber"}; !slices.Equal(got, want) {
		t.Errorf("received copies to %v, want %v", got, want)
	}
}

func TestDisableAndClose(t *testing.T) {
	h, _ := setup(t)
	if _, err := h.IQ(iq("juliet@example.org/chamber", "", "set", "disable")); err != nil {
		t.Fatal(err)
	}
	h.Unbind("juliet@example.org/cellar")
	st := msg("juliet@example.org/garden", "romeo@example.org", "chat", `<body>hi</body>`)
	orig := st.Clone()
	if err := h.Send(st); err != nil {
		t.Fatal(err)
	}
	if got, want := copies(t, h, "sent", orig), []string{"balcony"}; !slices.Equal(got, want) {
		t.Errorf("sent copies to %v, want %v", got, want)
	}
	h.Unbind("juliet@example.org/balcony")
	if err := h.Send(st); err != nil {
		t.Fatal(err)
	}
	if got := copies(t, h, "sent", orig); len(got) != 0 {
		t.Errorf("sent copies to %v after the last enabled session closed", got)
	}
}

// TestCopyIsNotCopied checks that a carbon delivered through the Deliver
// chain is not itself copied again.
func TestCopyIsNotCopied(t *testing.T) {
	h, _ := setup(t)
	orig := msg("romeo@example.org/orchard", "juliet@example.org/balcony", "chat", `<body>hi</body>`)
	c := wrap("received", orig, xmpp.MustParseJID("juliet@example.org"))
	c.To = xmpp.MustParseJID("juliet@example.org/chamber")
	if err := h.RunDeliver("juliet@example.org/chamber", c); err != nil {
		t.Fatal(err)
	}
	if d := h.Delivered(); len(d) != 1 || !strings.Contains(string(d[0].Stanza.Inner), "<received") {
		t.Errorf("delivered %v, want the one copy", d)
	}
}
