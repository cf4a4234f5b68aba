package roster_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

func condition(err error) xmpp.Condition {
	var se *xmpp.StanzaError
	if errors.As(err, &se) {
		return se.Condition
	}
	return ""
}

func TestRosterGetAndVersioning(t *testing.T) {
	h, s := newHost(t, alice)
	sess := h.Bind(phone)

	res, err := h.IQ(rosterIQ(phone, "get", `<query xmlns="jabber:iq:roster"/>`))
	if err != nil {
		t.Fatal(err)
	}
	q := parseQuery(t, res)
	if q.Ver == nil || len(q.Items) != 0 {
		t.Fatalf("empty roster: %s", res)
	}
	if !sess.Interested() {
		t.Error("a roster get does not make the session interested")
	}
	v0 := *q.Ver

	if _, err := h.IQ(rosterIQ(phone, "set", `<query xmlns="jabber:iq:roster"><item jid="bob@example.net" name="Bob"><group>Friends</group></item></query>`)); err != nil {
		t.Fatal(err)
	}
	v1, _ := s.Version(ctx, jid(alice))
	if v1 == v0 {
		t.Fatal("adding an item kept the version")
	}

	tests := []struct {
		name      string
		ver       string // the query's ver attribute; "-" for none
		wantEmpty bool
	}{
		{name: "no ver", ver: "-"},
		{name: "empty ver", ver: ""},
		{name: "stale ver", ver: v0},
		{name: "unknown ver", ver: "garbage"},
		{name: "current ver", ver: v1, wantEmpty: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			query := `<query xmlns="jabber:iq:roster" ver="` + tc.ver + `"/>`
			if tc.ver == "-" {
				query = `<query xmlns="jabber:iq:roster"/>`
			}
			res, err := h.IQ(rosterIQ(phone, "get", query))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantEmpty {
				if res != nil {
					t.Errorf("result %s, want empty", res)
				}
				return
			}
			q := parseQuery(t, res)
			want := []wireItem{{JID: "bob@example.net", Name: "Bob", Subscription: "none", Groups: []string{"Friends"}}}
			if q.Ver == nil || *q.Ver != v1 || !slices.EqualFunc(q.Items, want, func(a, b wireItem) bool {
				return a.JID == b.JID && a.Name == b.Name && a.Subscription == b.Subscription && slices.Equal(a.Groups, b.Groups)
			}) {
				t.Errorf("result %s", res)
			}
		})
	}

	// A set that changes nothing clients see keeps the version, but is
	// still pushed (RFC 6121 §2.4.2).
	h.Delivered()
	if _, err := h.IQ(rosterIQ(phone, "set", `<query xmlns="jabber:iq:roster"><item jid="bob@example.net" name="Bob"><group>Friends</group></item></query>`)); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(ctx, jid(alice)); v != v1 {
		t.Errorf("version %s after a no-op set, want %s", v, v1)
	}
	if ps := pushesOf(t, h.Delivered()); len(ps) != 1 || ps[0].Ver != v1 {
		t.Errorf("pushes %+v", ps)
	}
}

func TestRosterSetPushesToInterestedResources(t *testing.T) {
	h, s := newHost(t, alice)
	h.Bind(phone).SetInterested()
	h.Bind("alice@example.com/laptop").SetInterested()
	h.Bind("alice@example.com/bot") // never asked for the roster

	if _, err := h.IQ(rosterIQ(phone, "set", `<query xmlns="jabber:iq:roster"><item jid="Bob@Example.NET" name="B &amp; B"><group>a</group><group>b</group></item></query>`)); err != nil {
		t.Fatal(err)
	}
	ver, _ := s.Version(ctx, jid(alice))
	ps := pushesOf(t, h.Delivered())
	var to []string
	for _, p := range ps {
		to = append(to, p.To.String())
		if p.Ver != ver || p.Item.JID != "bob@example.net" || p.Item.Name != "B & B" || p.Item.Subscription != "none" ||
			!slices.Equal(p.Item.Groups, []string{"a", "b"}) {
			t.Errorf("push %+v ver %s", p.Item, p.Ver)
		}
	}
	slices.Sort(to)
	if want := []string{"alice@example.com/laptop", phone}; !slices.Equal(to, want) {
		t.Errorf("pushed to %q, want %q", to, want)
	}

	it, ok, err := s.Item(ctx, jid(alice), jid("bob@example.net"))
	if err != nil || !ok || it.Name != "B & B" || it.Subscription != roster.None {
		t.Errorf("stored %+v %v %v", it, ok, err)
	}
}

func TestRosterSetKeepsSubscription(t *testing.T) {
	h, s := newHost(t, alice)
	h.Bind(phone)
	if _, err := s.Put(ctx, jid(alice), roster.Item{JID: jid("bob@example.net"), Subscription: roster.Both, Ask: false, Groups: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	// 'subscription' values other than "remove", 'ask' and 'approved'
	// are ignored in a roster set (RFC 6121 §2.1.2).
	if _, err := h.IQ(rosterIQ(phone, "set", `<query xmlns="jabber:iq:roster"><item jid="bob@example.net" subscription="none" ask="subscribe" approved="true" name="Bob"/></query>`)); err != nil {
		t.Fatal(err)
	}
	it, _, _ := s.Item(ctx, jid(alice), jid("bob@example.net"))
	if it.Subscription != roster.Both || it.Ask || it.PreApproved || it.Name != "Bob" || len(it.Groups) != 0 {
		t.Errorf("item %+v", it)
	}
}

func TestRosterSetErrors(t *testing.T) {
	long := strings.Repeat("x", 11)
	tests := []struct {
		name  string
		from  string
		to    string
		typ   string
		query string
		want  xmpp.Condition
	}{
		{name: "two items", query: `<item jid="a@example.net"/><item jid="b@example.net"/>`, want: xmpp.BadRequest},
		{name: "no item", query: ``, want: xmpp.BadRequest},
		{name: "duplicate groups", query: `<item jid="a@example.net"><group>g</group><group>g</group></item>`, want: xmpp.BadRequest},
		{name: "no jid", query: `<item name="x"/>`, want: xmpp.BadRequest},
		{name: "malformed jid", query: `<item jid="@example.net"/>`, want: xmpp.JIDMalformed},
		{name: "full jid", query: `<item jid="a@example.net/r"/>`, want: xmpp.BadRequest},
		{name: "empty group", query: `<item jid="a@example.net"><group></group></item>`, want: xmpp.NotAcceptable},
		{name: "long name", query: `<item jid="a@example.net" name="` + long + `"/>`, want: xmpp.NotAcceptable},
		{name: "long group", query: `<item jid="a@example.net"><group>` + long + `</group></item>`, want: xmpp.NotAcceptable},
		{name: "another user's roster", to: "carol@example.com", query: `<item jid="a@example.net"/>`, want: xmpp.Forbidden},
		{name: "get of another user's roster", to: "carol@example.com", typ: "get", want: xmpp.Forbidden},
		{name: "remove of a missing item", query: `<item jid="a@example.net" subscription="remove"/>`, want: xmpp.ItemNotFound},
		{name: "remove of a pending request", query: `<item jid="pending@example.net" subscription="remove"/>`, want: xmpp.ItemNotFound},
		{name: "name of exactly the limit", query: `<item jid="a@example.net" name="` + long[1:] + `"/>`},
		{name: "to own bare jid", to: alice, query: `<item jid="a@example.net"/>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, s := newHostConfig(t, "max_name_length: 10\nmax_group_length: 10\n", alice)
			if err := s.Inbound(ctx, h.mh, pres("pending@example.net", alice, "subscribe")); err != nil {
				t.Fatal(err)
			}
			typ := tc.typ
			if typ == "" {
				typ = "set"
			}
			iq := rosterIQ(phone, typ, `<query xmlns="jabber:iq:roster">`+tc.query+`</query>`)
			if tc.to != "" {
				iq.To = jid(tc.to)
			}
			_, err := h.IQ(iq)
			if got := condition(err); got != tc.want {
				t.Errorf("condition %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestRosterRemove(t *testing.T) {
	const (
		carol     = "carol@example.net"
		carolDesk = "carol@example.net/desk"
		remote    = "dave@remote.example"
	)
	tests := []struct {
		name       string
		contact    string
		state      string
		wantSent   []string // subscription stanzas processed on the contact's side, in order
		wantUnavai bool     // alice's unavailable presence reaches the contact
	}{
		{name: "both", contact: carol, state: "Both", wantSent: []string{"unsubscribe", "unsubscribed"}, wantUnavai: true},
		{name: "to", contact: carol, state: "To", wantSent: []string{"unsubscribe"}},
		{name: "from", contact: carol, state: "From", wantSent: []string{"unsubscribed"}, wantUnavai: true},
		{name: "pending out", contact: carol, state: "None + Pending Out", wantSent: []string{"unsubscribe"}},
		{name: "pending in", contact: carol, state: "None + Pending In", wantSent: []string{"unsubscribed"}},
		{name: "none", contact: carol, state: "None"},
		{name: "remote both", contact: remote, state: "Both", wantSent: []string{"unsubscribe", "unsubscribed"}, wantUnavai: true},
	}
	// The contact's side of each starting state of alice's entry.
	mirror := map[string]string{
		"Both": "Both", "To": "From", "From": "To", "None": "None",
		"None + Pending Out": "None + Pending In", "None + Pending In": "None + Pending Out",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, s := newHost(t, alice, carol)
			online(h, phone)
			online(h, carolDesk)
			mine := states[tc.state]
			mine.JID = jid(tc.contact)
			if _, err := s.Put(ctx, jid(alice), mine); err != nil {
				t.Fatal(err)
			}
			if tc.contact == carol {
				theirs := states[mirror[tc.state]]
				theirs.JID = jid(alice)
				if _, err := s.Put(ctx, jid(carol), theirs); err != nil {
					t.Fatal(err)
				}
			}
			h.Delivered()

			if _, err := h.IQ(rosterIQ(phone, "set", `<query xmlns="jabber:iq:roster"><item jid="`+tc.contact+`" subscription="remove"/></query>`)); err != nil {
				t.Fatal(err)
			}
			if _, ok := entry(t, s, alice, tc.contact); ok {
				t.Error("the item is still stored")
			}
			ds := h.Delivered()
			var alicePushes []pushed
			for _, p := range pushesOf(t, ds) {
				if p.To == jid(phone) {
					alicePushes = append(alicePushes, p)
				}
			}
			ver, _ := s.Version(ctx, jid(alice))
			if len(alicePushes) != 1 || alicePushes[0].Item.Subscription != "remove" || alicePushes[0].Item.JID != tc.contact || alicePushes[0].Ver != ver {
				t.Errorf("alice's pushes %+v, want one removal with ver %s", alicePushes, ver)
			}

			var sent []string
			var unavailable bool
			if tc.contact == carol {
				for _, p := range presences(ds) {
					switch p {
					case "unsubscribe " + alice + "→" + carolDesk, "unsubscribed " + alice + "→" + carolDesk:
						sent = append(sent, strings.Fields(p)[0])
					case "unavailable " + phone + "→" + carolDesk:
						unavailable = true
					}
				}
				// Carol's side is back to nothing, or nothing pending.
				if it, ok := entry(t, s, carol, alice); ok && stateOf(it) != "None" {
					t.Errorf("carol's entry for alice is %q", stateOf(it))
				}
			} else {
				for _, r := range routedTypes(h.Routed()) {
					switch r {
					case "unsubscribe " + alice + "→" + remote, "unsubscribed " + alice + "→" + remote:
						sent = append(sent, strings.Fields(r)[0])
					case "unavailable " + phone + "→" + remote:
						unavailable = true
					}
				}
			}
			if !slices.Equal(sent, tc.wantSent) {
				t.Errorf("sent %q, want %q", sent, tc.wantSent)
			}
			if unavailable != tc.wantUnavai {
				t.Errorf("unavailable sent %v, want %v", unavailable, tc.wantUnavai)
			}
		})
	}
}

func TestStreamFeatures(t *testing.T) {
	m := new(roster.Module)
	if got := string(m.StreamFeatures(nil, "example.com", false)); got != "" {
		t.Errorf("before authentication: %q", got)
	}
	if got := string(m.StreamFeatures(nil, "example.com", true)); got != `<ver xmlns="urn:xmpp:features:rosterver"/>` {
		t.Errorf("after authentication: %q", got)
	}
}

func TestAccountDeleted(t *testing.T) {
	const carol = "carol@example.net"
	h, s := newHost(t, alice, carol)
	online(h, "carol@example.net/desk")
	if _, err := s.Put(ctx, jid(alice), roster.Item{JID: jid(carol), Subscription: roster.Both}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, jid(carol), roster.Item{JID: jid(alice), Subscription: roster.Both, Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Inbound(ctx, h.mh, pres("dave@example.net", alice, "subscribe")); err != nil {
		t.Fatal(err)
	}
	if err := h.Accounts().Delete(ctx, jid(alice)); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.Entries(ctx, jid(alice)); len(all) != 0 {
		t.Errorf("entries left: %+v", all)
	}
	if v, _ := s.Version(ctx, jid(alice)); v != "0" {
		t.Errorf("version left: %s", v)
	}
	// Carol keeps alice as a plain item, with no subscription left.
	it, ok, _ := s.Item(ctx, jid(carol), jid(alice))
	if !ok || it.Subscription != roster.None || it.Name != "Alice" {
		t.Errorf("carol's item %+v %v", it, ok)
	}
	if ps := pushesOf(t, h.Delivered()); len(ps) != 2 {
		t.Errorf("carol got %d pushes, want 2 (from, then none)", len(ps))
	}
}
