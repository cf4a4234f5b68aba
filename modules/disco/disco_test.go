package disco

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"testing"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

// fake is a module that only contributes disco information.
type fake struct{ info modules.Info }

func (f fake) Info() modules.Info                          { return f.info }
func (fake) Provision(context.Context, modules.Host) error { return nil }

var pepLike = modules.Info{
	ID:                "pep",
	Features:          []string{"urn:xmpp:ping", "http://jabber.org/protocol/pubsub"},
	AccountFeatures:   []string{"http://jabber.org/protocol/pubsub#publish"},
	AccountIdentities: []modules.Identity{{Category: "pubsub", Type: "pep"}},
	Identities:        []modules.Identity{{Category: "store", Type: "file", Name: "Files"}},
}

// newIQ builds an IQ as the server hands it to a handler.
func newIQ(t *testing.T, typ, from, to, inner string) *xmpp.Stanza {
	t.Helper()
	st := moduletest.NewStanza(xmpp.KindIQ, "q1", typ, from, to, inner)
	if st.Payload.Local == "" {
		t.Fatalf("payload %q has no element", inner)
	}
	return st
}

func condition(err error) xmpp.Condition {
	var se *xmpp.StanzaError
	if errors.As(err, &se) {
		return se.Condition
	}
	return ""
}

func TestVer(t *testing.T) {
	tests := []struct {
		name string
		info Info
		want string
	}{
		{
			name: "XEP-0115 §5.2 simple example",
			info: Info{
				Identities: []Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
				Features: []string{"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
					"http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"},
			},
			want: "QgayPKawpkPSDYmwT/WM94uAlu0=",
		},
		{
			name: "XEP-0115 §5.3 complex example",
			info: Info{
				Identities: []Identity{
					{Category: "client", Type: "pc", Lang: "en", Name: "Psi 0.11"},
					{Category: "client", Type: "pc", Lang: "el", Name: "Ψ 0.11"},
				},
				Features: []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
					"http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"},
				Forms: []Form{{Type: "urn:xmpp:dataforms:softwareinfo", Fields: []Field{
					{Var: "os", Values: []string{"Mac"}},
					{Var: "ip_version", Values: []string{"ipv6", "ipv4"}},
					{Var: "software_version", Values: []string{"0.11"}},
					{Var: "os_version", Values: []string{"10.5.1"}},
					{Var: "software", Values: []string{"Psi"}},
				}}},
			},
			want: "q07IKJEyjvHSyhy//CH0CxmKi8w=",
		},
		{
			name: "identities sort by field, not by joined string",
			info: Info{Identities: []Identity{{Category: "a-b", Type: "x"}, {Category: "a", Type: "x"}}},
			want: sha1B64("a/x//<a-b/x//<"),
		},
		{
			name: "forms sort by FORM_TYPE",
			info: Info{Forms: []Form{{Type: "urn:b"}, {Type: "urn:a", Fields: []Field{{Var: "f"}}}}},
			want: sha1B64("urn:a<f<urn:b<"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.info.Ver(sha1.New); got != tc.want {
				t.Errorf("Ver = %s, want %s", got, tc.want)
			}
		})
	}
}

func sha1B64(s string) string {
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestServerInfo(t *testing.T) {
	got := ServerInfo([]modules.Info{new(Module).Info(), pepLike, {ID: "ping", Features: []string{"urn:xmpp:ping"}}})
	want := Info{
		Identities: []Identity{{Category: "server", Type: "im", Name: "Parley"}, {Category: "store", Type: "file", Name: "Files"}},
		Features: []string{"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/pubsub", "urn:xmpp:ping"},
	}
	if string(got.AppendQuery(nil, "")) != string(want.AppendQuery(nil, "")) {
		t.Errorf("ServerInfo = %+v, want %+v", got, want)
	}
}

func TestHandleInfo(t *testing.T) {
	h := moduletest.NewHost(t, "example.org", "other.example")
	h.AddAccount("juliet@example.org", "pw")
	h.AddAccount("romeo@example.org", "pw")
	h.AddAccount("nurse@example.org", "pw")
	h.AddAccount("tybalt@example.org", "pw")
	h.Provision(new(Module))
	h.Provision(fake{pepLike})
	// Juliet's roster: the nurse sees her presence, Romeo too (both ways),
	// Tybalt does not (she sees his).
	subscribe(t, h, "juliet@example.org", "nurse@example.org", roster.From)
	subscribe(t, h, "juliet@example.org", "romeo@example.org", roster.Both)
	subscribe(t, h, "juliet@example.org", "tybalt@example.org", roster.To)
	subscribe(t, h, "ghost@example.org", "juliet@example.org", roster.Both) // ghost has no account
	server := ServerInfo(h.Modules())
	capsNode := CapsNode + "#" + server.Ver(sha1.New)
	serverXML := `<query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="server" type="im" name="Parley"/><identity category="store" type="file" name="Files"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="http://jabber.org/protocol/pubsub"/><feature var="urn:xmpp:ping"/></query>`
	accountXML := `<query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="account" type="registered"/><identity category="pubsub" type="pep"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="http://jabber.org/protocol/pubsub#publish"/></query>`
	const query = `<query xmlns="http://jabber.org/protocol/disco#info"/>`

	tests := []struct {
		name     string
		typ      string
		from, to string
		inner    string
		want     string
		wantCond xmpp.Condition
	}{
		{name: "domain", typ: "get", from: "juliet@example.org/balcony", to: "example.org", inner: query, want: serverXML},
		{name: "second local domain", typ: "get", from: "juliet@example.org/balcony", to: "other.example", inner: query, want: serverXML},
		{
			name: "domain on its caps node", typ: "get", from: "juliet@example.org/balcony", to: "example.org",
			inner: `<query xmlns="http://jabber.org/protocol/disco#info" node="` + capsNode + `"/>`,
			want:  `<query xmlns="http://jabber.org/protocol/disco#info" node="` + capsNode + `">` + serverXML[len(`<query xmlns="http://jabber.org/protocol/disco#info">`):],
		},
		{
			name: "domain on a stale caps node", typ: "get", from: "juliet@example.org/balcony", to: "example.org",
			inner: `<query xmlns="http://jabber.org/protocol/disco#info" node="` + CapsNode + `#AAAA"/>`, wantCond: xmpp.ItemNotFound,
		},
		{
			name: "domain on an unknown node", typ: "get", from: "juliet@example.org/balcony", to: "example.org",
			inner: `<query xmlns="http://jabber.org/protocol/disco#info" node="http://jabber.org/protocol/commands"/>`, wantCond: xmpp.ItemNotFound,
		},
		{name: "own bare JID", typ: "get", from: "juliet@example.org/balcony", to: "juliet@example.org", inner: query, want: accountXML},
		{name: "no to", typ: "get", from: "juliet@example.org/balcony", inner: query, want: accountXML},
		{
			name: "own account on an unknown node", typ: "get", from: "juliet@example.org/balcony", to: "juliet@example.org",
			inner: `<query xmlns="http://jabber.org/protocol/disco#info" node="urn:xmpp:avatar:data"/>`, wantCond: xmpp.ItemNotFound,
		},
		{name: "contact with subscription both", typ: "get", from: "romeo@example.org/orchard", to: "juliet@example.org", inner: query, want: accountXML},
		{name: "contact with subscription from", typ: "get", from: "nurse@example.org/kitchen", to: "juliet@example.org", inner: query, want: accountXML},
		{
			name: "contact asks about a node", typ: "get", from: "romeo@example.org/orchard", to: "juliet@example.org",
			inner: `<query xmlns="http://jabber.org/protocol/disco#info" node="urn:xmpp:avatar:data"/>`, wantCond: xmpp.ItemNotFound,
		},
		{name: "contact with subscription to only", typ: "get", from: "tybalt@example.org/street", to: "juliet@example.org", inner: query, wantCond: xmpp.ServiceUnavailable},
		{name: "stranger", typ: "get", from: "paris@example.org/church", to: "juliet@example.org", inner: query, wantCond: xmpp.ServiceUnavailable},
		{name: "an account that does not exist", typ: "get", from: "romeo@example.org/orchard", to: "nobody@example.org", inner: query, wantCond: xmpp.ServiceUnavailable},
		{name: "a deleted account with a stale roster", typ: "get", from: "juliet@example.org/balcony", to: "ghost@example.org", inner: query, wantCond: xmpp.ServiceUnavailable},
		{name: "the server asks about an account", typ: "get", from: "example.org", to: "juliet@example.org", inner: query, want: accountXML},
		{name: "the server asks about a missing account", typ: "get", from: "example.org", to: "nobody@example.org", inner: query, wantCond: xmpp.ServiceUnavailable},
		{name: "set", typ: "set", from: "juliet@example.org/balcony", to: "example.org", inner: query, wantCond: xmpp.NotAllowed},
		{
			name: "wrong element", typ: "get", from: "juliet@example.org/balcony", to: "example.org",
			inner: `<info xmlns="http://jabber.org/protocol/disco#info"/>`, wantCond: xmpp.BadRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.IQ(newIQ(t, tc.typ, tc.from, tc.to, tc.inner))
			if c := condition(err); c != tc.wantCond || (err != nil && c == "") {
				t.Fatalf("error = %v, want condition %q", err, tc.wantCond)
			}
			if string(got) != tc.want {
				t.Errorf("result =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestHandleItems(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.AddAccount("juliet@example.org", "pw")
	h.AddAccount("romeo@example.org", "pw")
	h.AddAccount("nurse@example.org", "pw")
	h.Provision(new(Module))
	subscribe(t, h, "juliet@example.org", "romeo@example.org", roster.Both)
	subscribe(t, h, "romeo@example.org", "juliet@example.org", roster.Both)
	h.Bind("juliet@example.org/balcony").SetAvailable(&xmpp.Stanza{Kind: xmpp.KindPresence})
	h.Bind("juliet@example.org/chamber").SetAvailable(&xmpp.Stanza{Kind: xmpp.KindPresence})
	h.Bind("juliet@example.org/hidden") // bound, no presence: not an item
	const empty = `<query xmlns="http://jabber.org/protocol/disco#items"/>`
	const resources = `<query xmlns="http://jabber.org/protocol/disco#items">` +
		`<item jid="juliet@example.org/balcony"/><item jid="juliet@example.org/chamber"/></query>`

	tests := []struct {
		name     string
		typ      string
		from, to string
		node     string
		want     string
		wantCond xmpp.Condition
	}{
		{name: "domain", typ: "get", from: "juliet@example.org/a", to: "example.org", want: empty},
		{name: "domain node", typ: "get", from: "juliet@example.org/a", to: "example.org", node: "x", wantCond: xmpp.ItemNotFound},
		{name: "own account", typ: "get", from: "juliet@example.org/a", to: "juliet@example.org", want: resources},
		{name: "no to", typ: "get", from: "juliet@example.org/a", want: resources},
		{name: "own account without available resources", typ: "get", from: "romeo@example.org/a", want: empty},
		{name: "own account node", typ: "get", from: "juliet@example.org/a", to: "juliet@example.org", node: "x", wantCond: xmpp.ItemNotFound},
		{name: "subscribed contact", typ: "get", from: "romeo@example.org/b", to: "juliet@example.org", want: resources},
		{name: "stranger", typ: "get", from: "nurse@example.org/b", to: "juliet@example.org", want: empty},
		{name: "missing account", typ: "get", from: "nurse@example.org/b", to: "nobody@example.org", want: empty},
		{
			name: "another account's node reveals nothing", typ: "get", from: "romeo@example.org/b", to: "juliet@example.org", node: "x",
			want: `<query xmlns="http://jabber.org/protocol/disco#items" node="x"/>`,
		},
		{name: "set", typ: "set", from: "juliet@example.org/a", to: "example.org", wantCond: xmpp.NotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := empty
			if tc.node != "" {
				inner = `<query xmlns="http://jabber.org/protocol/disco#items" node="` + tc.node + `"/>`
			}
			got, err := h.IQ(newIQ(t, tc.typ, tc.from, tc.to, inner))
			if c := condition(err); c != tc.wantCond || (err != nil && c == "") {
				t.Fatalf("error = %v, want condition %q", err, tc.wantCond)
			}
			if string(got) != tc.want {
				t.Errorf("result = %s, want %s", got, tc.want)
			}
		})
	}
}

// subscribe stores contact in user's roster with the subscription sub.
func subscribe(t *testing.T, h *moduletest.Host, user, contact string, sub roster.Subscription) {
	t.Helper()
	it := roster.Item{JID: xmpp.MustParseJID(contact), Subscription: sub}
	if _, err := roster.NewStore(h.Storage()).Put(context.Background(), xmpp.MustParseJID(user), it); err != nil {
		t.Fatal(err)
	}
}

func TestAppendQueryRoundTrip(t *testing.T) {
	info := Info{
		Identities: []Identity{{Category: "client", Type: "pc", Lang: "en", Name: `Psi & "friends"`}},
		Features:   []string{"urn:a"},
		Forms:      []Form{{Type: "urn:xmpp:dataforms:softwareinfo", Fields: []Field{{Var: "os", Values: []string{"<Mac>"}}}}},
	}
	var q struct {
		Identities []struct {
			Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
			Name string `xml:"name,attr"`
		} `xml:"identity"`
		Values []string `xml:"x>field>value"`
	}
	if err := xml.Unmarshal(info.AppendQuery(nil, "n"), &q); err != nil {
		t.Fatal(err)
	}
	if len(q.Identities) != 1 || q.Identities[0].Name != `Psi & "friends"` || q.Identities[0].Lang != "en" {
		t.Errorf("identities = %+v", q.Identities)
	}
	if want := []string{"urn:xmpp:dataforms:softwareinfo", "<Mac>"}; len(q.Values) != 2 || q.Values[0] != want[0] || q.Values[1] != want[1] {
		t.Errorf("values = %q, want %q", q.Values, want)
	}
}
