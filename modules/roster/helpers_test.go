package roster_test

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

var ctx = context.Background()

// testHost is the recording Host and the modules.Host view of it that a
// module gets, for calling the Store's processing directly.
type testHost struct {
	*moduletest.Host
	mh modules.Host
}

// newHost returns a Host with the roster module and the accounts given.
func newHost(t *testing.T, accounts ...string) (*testHost, *roster.Store) {
	t.Helper()
	return newHostConfig(t, "", accounts...)
}

// capture is a module that keeps the Host it is provisioned with.
type capture struct{ h modules.Host }

func (*capture) Info() modules.Info {
	return modules.Info{ID: "capture", New: func() modules.Module { return new(capture) }}
}

func (c *capture) Provision(_ context.Context, h modules.Host) error { c.h = h; return nil }

// newHostConfig is newHost with the roster module's configuration block.
func newHostConfig(t *testing.T, config string, accounts ...string) (*testHost, *roster.Store) {
	t.Helper()
	h := moduletest.NewHost(t, "example.com", "example.net")
	if config != "" {
		h.SetConfig("roster", config)
	}
	h.Provision(new(roster.Module))
	for _, a := range accounts {
		h.AddAccount(a, "secret")
	}
	c := new(capture)
	h.Provision(c)
	return &testHost{Host: h, mh: c.h}, roster.NewStore(h.Storage())
}

// online binds full as an available, interested session.
func online(h *testHost, full string) *moduletest.Session {
	s := h.Bind(full)
	s.SetAvailable(&xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, From: s.JID()})
	s.SetInterested()
	return s
}

func jid(s string) xmpp.JID { return xmpp.MustParseJID(s) }

func pres(from, to, typ string) *xmpp.Stanza {
	st := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, Type: typ, From: jid(from)}
	if to != "" {
		st.To = jid(to)
	}
	return st
}

// rosterIQ is a roster get or set from full with the given <query/>.
func rosterIQ(from, typ, query string) *xmpp.Stanza {
	return &xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: "r1", Type: typ, From: jid(from),
		Payload: xml.Name{Space: roster.NS, Local: "query"}, Inner: []byte(query),
	}
}

// states names the subscription states as RFC 6121 Appendix A does.
var states = map[string]roster.Item{
	"None":                  {},
	"None + Pending Out":    {Ask: true},
	"None + Pending In":     {PendingIn: true},
	"None + Pending Out/In": {Ask: true, PendingIn: true},
	"To":                    {Subscription: roster.To},
	"To + Pending In":       {Subscription: roster.To, PendingIn: true},
	"From":                  {Subscription: roster.From},
	"From + Pending Out":    {Subscription: roster.From, Ask: true},
	"Both":                  {Subscription: roster.Both},
}

func stateOf(it roster.Item) string {
	for name, s := range states {
		if s.Subscription == it.Subscription && s.Ask == it.Ask && s.PendingIn == it.PendingIn {
			return name
		}
	}
	return "invalid"
}

// entry returns user's stored entry for contact, hidden or not.
func entry(t *testing.T, s *roster.Store, user, contact string) (roster.Item, bool) {
	t.Helper()
	all, err := s.Entries(ctx, jid(user))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all {
		if it.JID == jid(contact) {
			return it, true
		}
	}
	return roster.Item{}, false
}

// pushed is one roster push as a client reads it.
type pushed struct {
	To   xmpp.JID
	Ver  string
	Item wireItem
}

type wireQuery struct {
	XMLName xml.Name   `xml:"jabber:iq:roster query"`
	Ver     *string    `xml:"ver,attr"`
	Items   []wireItem `xml:"item"`
}

type wireItem struct {
	JID          string   `xml:"jid,attr"`
	Name         string   `xml:"name,attr"`
	Subscription string   `xml:"subscription,attr"`
	Ask          string   `xml:"ask,attr"`
	Approved     string   `xml:"approved,attr"`
	Groups       []string `xml:"group"`
}

func parseQuery(t *testing.T, b []byte) wireQuery {
	t.Helper()
	var q wireQuery
	if err := xml.Unmarshal(b, &q); err != nil {
		t.Fatalf("roster query %q: %v", b, err)
	}
	return q
}

// pushesOf returns the roster pushes among ds, checking their envelope.
func pushesOf(t *testing.T, ds []moduletest.Delivery) []pushed {
	t.Helper()
	var out []pushed
	for _, d := range ds {
		st := d.Stanza
		if st.Kind != xmpp.KindIQ {
			continue
		}
		if st.Type != "set" || st.From != d.To.Bare() || st.To != d.To || st.ID == "" {
			t.Errorf("malformed roster push %s", st)
		}
		q := parseQuery(t, st.Inner)
		if len(q.Items) != 1 || q.Ver == nil {
			t.Fatalf("roster push %s: want one item and a ver", st)
		}
		out = append(out, pushed{To: d.To, Ver: *q.Ver, Item: q.Items[0]})
	}
	return out
}

// presences returns "type from→to" for each presence among ds (type "" is
// "available").
func presences(ds []moduletest.Delivery) []string {
	var out []string
	for _, d := range ds {
		if d.Stanza.Kind != xmpp.KindPresence {
			continue
		}
		typ := d.Stanza.Type
		if typ == "" {
			typ = "available"
		}
		out = append(out, typ+" "+d.Stanza.From.String()+"→"+d.To.String())
	}
	return out
}

// routedTypes returns "type from→to" for each routed presence.
func routedTypes(sts []*xmpp.Stanza) []string {
	var out []string
	for _, st := range sts {
		if st.Kind != xmpp.KindPresence {
			continue
		}
		typ := st.Type
		if typ == "" {
			typ = "available"
		}
		out = append(out, typ+" "+st.From.String()+"→"+st.To.String())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPrefix(list []string, prefix string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, prefix) {
			return true
		}
	}
	return false
}
