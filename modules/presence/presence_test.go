package presence_test

import (
	"context"
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/modules/presence"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

var ctx = context.Background()

const (
	alice       = "alice@example.com"
	alicePhone  = "alice@example.com/phone"
	aliceLaptop = "alice@example.com/laptop"
	bob         = "bob@example.net" // another local domain: handled like the same one
	bobDesk     = "bob@example.net/desk"
	bobMobile   = "bob@example.net/mobile"
	carol       = "carol@example.com"
	carolHome   = "carol@example.com/home"
	remote      = "dave@remote.example"
)

// world is a Host with the roster and presence modules, accounts for
// alice, bob and carol, and a module after presence that records what the
// chain passes on.
type world struct {
	*moduletest.Host
	store    *roster.Store
	presence *presence.Module
	passed   []*xmpp.Stanza
}

func newWorld(t *testing.T) *world {
	t.Helper()
	h := moduletest.NewHost(t, "example.com", "example.net")
	w := &world{Host: h, store: roster.NewStore(h.Storage()), presence: new(presence.Module)}
	h.Provision(new(roster.Module))
	h.Provision(w.presence)
	h.Provision(&recorder{w: w})
	for _, a := range []string{alice, bob, carol} {
		h.AddAccount(a, "secret")
	}
	return w
}

// recorder sits after presence in the Inbound chain.
type recorder struct{ w *world }

func (*recorder) Info() modules.Info {
	return modules.Info{ID: "recorder", New: func() modules.Module { return new(recorder) }}
}

func (r *recorder) Provision(_ context.Context, h modules.Host) error {
	h.Use(modules.Inbound, func(next modules.Handler) modules.Handler {
		return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
			r.w.passed = append(r.w.passed, st.Clone())
			return next.HandleStanza(ctx, st)
		})
	})
	return nil
}

func jid(s string) xmpp.JID { return xmpp.MustParseJID(s) }

// send runs a presence from a client through the chain.
func (w *world) send(t *testing.T, from, to, typ, inner string) error {
	t.Helper()
	st := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, Type: typ, From: jid(from), Inner: []byte(inner)}
	if to != "" {
		st.To = jid(to)
	}
	return w.Send(st)
}

func (w *world) mustSend(t *testing.T, from, to, typ, inner string) {
	t.Helper()
	if err := w.send(t, from, to, typ, inner); err != nil {
		t.Fatalf("presence %s from %s to %s: %v", typ, from, to, err)
	}
}

// login binds full, asks for the roster and sends initial presence.
func (w *world) login(t *testing.T, full, inner string) *moduletest.Session {
	t.Helper()
	s := w.Bind(full)
	iq := &xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: "g", Type: "get", From: jid(full),
		Payload: xml.Name{Space: roster.NS, Local: "query"}, Inner: []byte(`<query xmlns="jabber:iq:roster"/>`)}
	if _, err := w.IQ(iq); err != nil {
		t.Fatal(err)
	}
	w.mustSend(t, full, "", "", inner)
	return s
}

func (w *world) set(t *testing.T, user, contact string, it roster.Item) {
	t.Helper()
	it.JID = jid(contact)
	if _, err := w.store.Put(ctx, jid(user), it); err != nil {
		t.Fatal(err)
	}
}

// mutual makes a and b subscribed to each other.
func (w *world) mutual(t *testing.T, a, b string) {
	t.Helper()
	w.set(t, a, b, roster.Item{Subscription: roster.Both})
	w.set(t, b, a, roster.Item{Subscription: roster.Both})
}

func (w *world) item(t *testing.T, user, contact string) roster.Item {
	t.Helper()
	it, ok, err := w.store.Item(ctx, jid(user), jid(contact))
	if err != nil || !ok {
		t.Fatalf("no item %s in the roster of %s (%v)", contact, user, err)
	}
	return it
}

// traffic is what a step delivered, as "kind type from→to" lines
// ("presence available ...", "push none+ask ...").
func (w *world) traffic() []string {
	var out []string
	for _, d := range w.Delivered() {
		st := d.Stanza
		switch st.Kind {
		case xmpp.KindPresence:
			typ := st.Type
			if typ == "" {
				typ = "available"
			}
			out = append(out, "presence "+typ+" "+st.From.String()+"→"+d.To.String())
		case xmpp.KindIQ:
			var q struct {
				Items []struct {
					JID      string `xml:"jid,attr"`
					Sub      string `xml:"subscription,attr"`
					Ask      string `xml:"ask,attr"`
					Approved string `xml:"approved,attr"`
				} `xml:"item"`
			}
			_ = xml.Unmarshal(st.Inner, &q)
			for _, it := range q.Items {
				s := it.Sub
				if it.Ask != "" {
					s += "+ask"
				}
				if it.Approved != "" {
					s += "+approved"
				}
				out = append(out, "push "+s+" "+it.JID+"→"+d.To.String())
			}
		}
	}
	slices.Sort(out)
	return out
}

func expectTraffic(t *testing.T, got, want []string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("traffic:\n  got  %q\n  want %q", got, want)
	}
}

func routed(w *world) []string {
	var out []string
	for _, st := range w.Routed() {
		if st.To.IsZero() {
			continue // a broadcast presence reaching the end of moduletest's chain
		}
		typ := st.Type
		if typ == "" {
			typ = "available"
		}
		out = append(out, st.Kind.String()+" "+typ+" "+st.From.String()+"→"+st.To.String())
	}
	return out
}

func TestSubscriptionFlowToBoth(t *testing.T) {
	w := newWorld(t)
	w.login(t, alicePhone, `<show>chat</show>`)
	w.login(t, bobDesk, "")
	w.traffic()

	// alice asks bob: her roster shows the pending request, bob's
	// clients get the request but no roster item.
	w.mustSend(t, alicePhone, bob, "subscribe", `<status>hi, it's alice</status>`)
	expectTraffic(t, w.traffic(), []string{
		"push none+ask " + bob + "→" + alicePhone,
		"presence subscribe " + alice + "→" + bobDesk,
	})

	// bob approves: both rosters change, alice learns bob's presence.
	w.mustSend(t, bobDesk, alice, "subscribed", "")
	expectTraffic(t, w.traffic(), []string{
		"push from " + alice + "→" + bobDesk,
		"push to " + bob + "→" + alicePhone,
		"presence subscribed " + bob + "→" + alicePhone,
		"presence available " + bobDesk + "→" + alicePhone,
	})

	// bob asks back; alice, already "To", gets the request only.
	w.mustSend(t, bobDesk, alice, "subscribe", "")
	expectTraffic(t, w.traffic(), []string{
		"push from+ask " + alice + "→" + bobDesk,
		"presence subscribe " + bob + "→" + alicePhone,
	})

	w.mustSend(t, alicePhone, bob, "subscribed", "")
	expectTraffic(t, w.traffic(), []string{
		"push both " + bob + "→" + alicePhone,
		"push both " + alice + "→" + bobDesk,
		"presence subscribed " + alice + "→" + bobDesk,
		"presence available " + alicePhone + "→" + bobDesk,
	})
	if a, b := w.item(t, alice, bob), w.item(t, bob, alice); a.Subscription != roster.Both || b.Subscription != roster.Both ||
		a.Ask || b.Ask || a.PendingIn || b.PendingIn {
		t.Errorf("alice's item %+v, bob's item %+v", a, b)
	}
	if r := routed(w); len(r) != 0 {
		t.Errorf("routed %q between local accounts", r)
	}

	// Now presence flows both ways.
	// Each broadcast is also reflected to its sender (RFC 6121 §4.4.2).
	w.mustSend(t, alicePhone, "", "", `<show>away</show>`)
	expectTraffic(t, w.traffic(), []string{
		"presence available " + alicePhone + "→" + alicePhone,
		"presence available " + alicePhone + "→" + bobDesk,
	})
	w.mustSend(t, bobDesk, "", "", `<show>dnd</show>`)
	expectTraffic(t, w.traffic(), []string{
		"presence available " + bobDesk + "→" + alicePhone,
		"presence available " + bobDesk + "→" + bobDesk,
	})
}

func TestUnsubscribeAndUnsubscribed(t *testing.T) {
	tests := []struct {
		name      string
		from, to  string
		typ       string
		wantAlice roster.Subscription // alice's subscription to bob after
		wantBob   roster.Subscription
		want      []string
	}{
		{
			name: "alice unsubscribes from bob", from: alicePhone, to: bob, typ: "unsubscribe",
			wantAlice: roster.From, wantBob: roster.To,
			want: []string{
				"push from " + bob + "→" + alicePhone,
				"push to " + alice + "→" + bobDesk,
				"presence unsubscribe " + alice + "→" + bobDesk,
				// bob's presence is no longer alice's to see
				"presence unavailable " + bobDesk + "→" + alicePhone,
			},
		},
		{
			name: "alice cancels bob's subscription", from: alicePhone, to: bob, typ: "unsubscribed",
			wantAlice: roster.To, wantBob: roster.From,
			want: []string{
				"push to " + bob + "→" + alicePhone,
				"push from " + alice + "→" + bobDesk,
				"presence unsubscribed " + alice + "→" + bobDesk,
				"presence unavailable " + alicePhone + "→" + bobDesk,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.mutual(t, alice, bob)
			w.login(t, alicePhone, "")
			w.login(t, bobDesk, "")
			w.traffic()

			w.mustSend(t, tc.from, tc.to, tc.typ, "")
			expectTraffic(t, w.traffic(), tc.want)
			if got := w.item(t, alice, bob).Subscription; got != tc.wantAlice {
				t.Errorf("alice's subscription %v, want %v", got, tc.wantAlice)
			}
			if got := w.item(t, bob, alice).Subscription; got != tc.wantBob {
				t.Errorf("bob's subscription %v, want %v", got, tc.wantBob)
			}
			// Repeating it is meaningless: nothing happens.
			w.mustSend(t, tc.from, tc.to, tc.typ, "")
			if got := w.traffic(); len(got) != 0 {
				t.Errorf("a repeated %s delivered %q", tc.typ, got)
			}
		})
	}
}

func TestPreApproval(t *testing.T) {
	w := newWorld(t)
	w.login(t, alicePhone, "")
	w.login(t, bobDesk, "")
	w.traffic()

	// alice approves bob before he asks: her roster shows it, bob hears
	// nothing.
	w.mustSend(t, alicePhone, bob, "subscribed", "")
	expectTraffic(t, w.traffic(), []string{"push none+approved " + bob + "→" + alicePhone})

	// bob's request is answered at once; alice's clients never see it.
	w.mustSend(t, bobDesk, alice, "subscribe", "")
	expectTraffic(t, w.traffic(), []string{
		"push none+ask " + alice + "→" + bobDesk,
		"push from " + bob + "→" + alicePhone,
		"push to " + alice + "→" + bobDesk,
		"presence subscribed " + alice + "→" + bobDesk,
		"presence available " + alicePhone + "→" + bobDesk,
	})
	if it := w.item(t, alice, bob); it.PreApproved || it.Subscription != roster.From || it.PendingIn {
		t.Errorf("alice's item %+v", it)
	}

	// Pre-approval cancelled by unsubscribed: the request waits for alice.
	w.mustSend(t, alicePhone, carol, "subscribed", "")
	w.mustSend(t, alicePhone, carol, "unsubscribed", "")
	w.traffic()
	w.mustSend(t, carolHome, alice, "subscribe", "")
	if it := w.item(t, alice, carol); it.PreApproved || !it.PendingIn || it.Subscription != roster.None {
		t.Errorf("alice's item for carol %+v", it)
	}

	m := new(presence.Module)
	if got := string(m.StreamFeatures(nil, "example.com", true)); got != `<sub xmlns="urn:xmpp:features:pre-approval"/>` {
		t.Errorf("stream feature %q", got)
	}
	if got := m.StreamFeatures(nil, "example.com", false); len(got) != 0 {
		t.Errorf("stream feature before authentication %q", got)
	}
}

func TestPendingRequestsRedelivered(t *testing.T) {
	w := newWorld(t)
	w.login(t, bobDesk, "")
	// alice is offline: the request is kept.
	w.mustSend(t, bobDesk, alice, "subscribe", `<status>bob here</status><nick xmlns="http://jabber.org/protocol/nick">Bobby</nick>`)
	w.traffic()

	for _, res := range []string{alicePhone, aliceLaptop} {
		w.login(t, res, "")
		var reqs []*xmpp.Stanza
		for _, d := range w.Delivered() {
			if d.Stanza.Type == "subscribe" {
				if d.To != jid(res) {
					t.Errorf("request delivered to %s", d.To)
				}
				reqs = append(reqs, d.Stanza)
			}
		}
		if len(reqs) != 1 {
			t.Fatalf("%s got %d requests, want 1", res, len(reqs))
		}
		want := `<presence to="alice@example.com" from="bob@example.net" type="subscribe"><status>bob here</status><nick xmlns="http://jabber.org/protocol/nick">Bobby</nick></presence>`
		if got := reqs[0].String(); got != want {
			t.Errorf("redelivered %s\nwant %s", got, want)
		}
	}
	// Not a roster item meanwhile.
	if items, _, _ := w.store.Items(ctx, jid(alice)); len(items) != 0 {
		t.Errorf("alice's roster %+v", items)
	}

	// Once answered, it is not delivered again.
	w.mustSend(t, alicePhone, bob, "subscribed", "")
	w.Unbind(aliceLaptop)
	w.traffic()
	w.login(t, aliceLaptop, "")
	for _, line := range w.traffic() {
		if strings.Contains(line, "subscribe ") {
			t.Errorf("answered request delivered again: %s", line)
		}
	}
	// A second presence from an available session is not initial.
	w.mustSend(t, bobDesk, carol, "subscribe", "")
	w.login(t, carolHome, "")
	if got := w.traffic(); !slices.Contains(got, "presence subscribe "+bob+"→"+carolHome) {
		t.Errorf("carol's initial presence: %q", got)
	}
	w.mustSend(t, carolHome, "", "", `<show>away</show>`)
	for _, line := range w.traffic() {
		if strings.Contains(line, "subscribe ") {
			t.Errorf("request delivered on a presence update: %s", line)
		}
	}
}

func TestProbesAnsweredOnInitialPresence(t *testing.T) {
	w := newWorld(t)
	w.mutual(t, alice, bob)
	w.set(t, alice, carol, roster.Item{Subscription: roster.From}) // carol sees alice, not the reverse
	w.set(t, carol, alice, roster.Item{Subscription: roster.To})
	w.set(t, alice, remote, roster.Item{Subscription: roster.To})
	w.login(t, bobDesk, `<show>away</show>`)
	w.login(t, bobMobile, `<priority>5</priority>`)
	w.Bind("bob@example.net/idle") // bound, never available
	w.login(t, carolHome, "")
	w.login(t, aliceLaptop, "")
	w.traffic()
	w.Routed()

	w.login(t, alicePhone, `<status>here</status>`)
	var answers []string
	for _, d := range w.Delivered() {
		if d.To == jid(alicePhone) && d.Stanza.Kind == xmpp.KindPresence {
			answers = append(answers, d.Stanza.From.String()+" "+string(d.Stanza.Inner))
		}
	}
	slices.Sort(answers)
	want := []string{
		aliceLaptop + " ",
		alicePhone + " <status>here</status>", // its own presence, reflected (RFC 6121 §4.2.2)
		bobDesk + " <show>away</show>",
		bobMobile + " <priority>5</priority>",
	}
	if !slices.Equal(answers, want) {
		t.Errorf("answers %q, want %q", answers, want)
	}
	if got := routed(w); !slices.Equal(got, []string{
		"presence probe " + alice + "→" + remote,
	}) {
		t.Errorf("routed %q", got)
	}
}

func TestBroadcastToResources(t *testing.T) {
	w := newWorld(t)
	w.mutual(t, alice, bob)
	w.set(t, alice, carol, roster.Item{Subscription: roster.To}) // alice sees carol only
	w.set(t, alice, remote, roster.Item{Subscription: roster.From})
	w.login(t, bobDesk, "")
	w.login(t, bobMobile, "")
	w.Bind("bob@example.net/idle")
	w.login(t, carolHome, "")
	w.login(t, aliceLaptop, "")
	w.Bind("alice@example.com/idle")
	w.login(t, alicePhone, "")
	w.traffic()
	w.Routed()
	w.passed = nil

	w.mustSend(t, alicePhone, "", "", `<show>xa</show>`)
	expectTraffic(t, w.traffic(), []string{
		"presence available " + alicePhone + "→" + alicePhone,
		"presence available " + alicePhone + "→" + bobDesk,
		"presence available " + alicePhone + "→" + bobMobile,
		"presence available " + alicePhone + "→" + aliceLaptop,
	})
	if got := routed(w); !slices.Equal(got, []string{"presence available " + alicePhone + "→" + remote}) {
		t.Errorf("routed %q", got)
	}
	if s := w.Sessions().Session(jid(alicePhone)); s == nil || !strings.Contains(string(s.Presence().Inner), "xa") {
		t.Error("the session's presence was not updated")
	}
	if len(w.passed) != 1 || w.passed[0].To != (xmpp.JID{}) {
		t.Errorf("passed on %v, want the broadcast presence", w.passed)
	}
}

func TestDirectedPresenceThenUnavailable(t *testing.T) {
	w := newWorld(t)
	w.mutual(t, alice, bob)
	w.login(t, bobDesk, "")
	w.login(t, carolHome, "")
	w.login(t, aliceLaptop, "")
	w.login(t, alicePhone, "")
	w.traffic()
	w.passed = nil

	// Directed presence to carol (no subscription), a full and a remote
	// JID, and to bob, who gets the broadcast anyway.
	w.mustSend(t, alicePhone, carol, "", `<show>chat</show>`)
	w.mustSend(t, alicePhone, "room@remote.example/alice", "", "")
	w.mustSend(t, alicePhone, bobDesk, "", "")
	w.mustSend(t, alicePhone, "carol@example.com/nowhere", "", "")
	expectTraffic(t, w.traffic(), []string{
		"presence available " + alicePhone + "→" + carolHome,
		"presence available " + alicePhone + "→" + bobDesk,
	})
	if got := routed(w); !slices.Equal(got, []string{"presence available " + alicePhone + "→room@remote.example/alice"}) {
		t.Errorf("routed %q", got)
	}
	if len(w.passed) != 0 {
		t.Errorf("directed presence passed on: %v", w.passed)
	}

	w.mustSend(t, alicePhone, "", "unavailable", `<status>bye</status>`)
	expectTraffic(t, w.traffic(), []string{
		"presence unavailable " + alicePhone + "→" + bobDesk,
		"presence unavailable " + alicePhone + "→" + aliceLaptop,
		"presence unavailable " + alicePhone + "→" + carolHome,
	})
	if got := routed(w); !slices.Equal(got, []string{"presence unavailable " + alicePhone + "→room@remote.example/alice"}) {
		t.Errorf("routed %q", got)
	}
	if s := w.Sessions().Session(jid(alicePhone)); s.Available() {
		t.Error("still available")
	}
	if len(w.passed) != 1 || w.passed[0].Type != "unavailable" {
		t.Errorf("passed on %v", w.passed)
	}

	// Directed unavailable takes a target off the list.
	w.login(t, alicePhone, "")
	w.mustSend(t, alicePhone, carol, "", "")
	w.mustSend(t, alicePhone, carol, "unavailable", "")
	w.traffic()
	w.mustSend(t, alicePhone, "", "unavailable", "")
	for _, line := range w.traffic() {
		if strings.HasSuffix(line, carolHome) {
			t.Errorf("carol told twice: %s", line)
		}
	}
}

func TestUnavailableOnDisconnect(t *testing.T) {
	w := newWorld(t)
	w.mutual(t, alice, bob)
	w.login(t, bobDesk, "")
	w.login(t, carolHome, "")
	w.login(t, aliceLaptop, "")
	w.login(t, alicePhone, "")
	w.mustSend(t, alicePhone, carolHome, "", "")
	w.traffic()

	w.Unbind(alicePhone)
	expectTraffic(t, w.traffic(), []string{
		"presence unavailable " + alicePhone + "→" + bobDesk,
		"presence unavailable " + alicePhone + "→" + aliceLaptop,
		"presence unavailable " + alicePhone + "→" + carolHome,
	})

	// A session that never became available leaves quietly...
	w.Bind("alice@example.com/quiet")
	w.Unbind("alice@example.com/quiet")
	if got := w.traffic(); len(got) != 0 {
		t.Errorf("traffic %q", got)
	}
	// ...unless it sent directed presence.
	w.Bind("alice@example.com/shy")
	w.mustSend(t, "alice@example.com/shy", carolHome, "", "")
	w.traffic()
	w.Unbind("alice@example.com/shy")
	expectTraffic(t, w.traffic(), []string{"presence unavailable alice@example.com/shy→" + carolHome})
}

func TestClientProbe(t *testing.T) {
	w := newWorld(t)
	w.mutual(t, alice, bob)
	w.login(t, alicePhone, `<show>away</show>`)
	w.login(t, bobDesk, "")
	w.login(t, carolHome, "")
	w.set(t, carol, alice, roster.Item{Subscription: roster.To}) // out of sync: alice has no item for carol
	w.traffic()

	w.mustSend(t, bobDesk, alice, "probe", "")
	expectTraffic(t, w.traffic(), []string{"presence available " + alicePhone + "→" + bobDesk})
	w.mustSend(t, bobDesk, alicePhone, "probe", "")
	expectTraffic(t, w.traffic(), []string{"presence available " + alicePhone + "→" + bobDesk})
	w.mustSend(t, bobDesk, "alice@example.com/gone", "probe", "")
	expectTraffic(t, w.traffic(), nil)

	// carol is not subscribed: no presence, and "unsubscribed" repairs
	// her roster.
	w.mustSend(t, carolHome, alice, "probe", "")
	expectTraffic(t, w.traffic(), []string{
		"push none " + alice + "→" + carolHome,
		"presence unsubscribed " + alice + "→" + carolHome,
	})
	if got := w.item(t, carol, alice).Subscription; got != roster.None {
		t.Errorf("carol's subscription %v", got)
	}
	w.mustSend(t, carolHome, remote, "probe", "")
	if got := routed(w); !slices.Equal(got, []string{"presence probe " + carol + "→" + remote}) {
		t.Errorf("routed %q", got)
	}
}

func TestErrorPresenceDelivered(t *testing.T) {
	w := newWorld(t)
	w.login(t, alicePhone, "")
	w.login(t, bobDesk, "")
	w.traffic()
	w.mustSend(t, bobDesk, alicePhone, "error", `<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`)
	expectTraffic(t, w.traffic(), []string{"presence error " + bobDesk + "→" + alicePhone})
	if all, _ := w.store.Entries(ctx, jid(alice)); len(all) != 0 {
		t.Errorf("alice's roster changed: %+v", all)
	}
	// An error with no 'to' goes nowhere.
	w.mustSend(t, bobDesk, "", "error", "")
	if got := w.traffic(); len(got) != 0 {
		t.Errorf("traffic %q", got)
	}
}

func TestRemoteContact(t *testing.T) {
	w := newWorld(t)
	w.login(t, alicePhone, "")
	w.traffic()
	w.mustSend(t, alicePhone, remote+"/res", "subscribe", "")
	expectTraffic(t, w.traffic(), []string{"push none+ask " + remote + "→" + alicePhone})
	if got := routed(w); !slices.Equal(got, []string{"presence subscribe " + alice + "→" + remote}) {
		t.Errorf("routed %q", got)
	}
}

func TestPresenceErrors(t *testing.T) {
	tests := []struct {
		name       string
		to, typ    string
		inner      string
		want       xmpp.Condition
		wantPrio   int8
		wantPassed bool
	}{
		{name: "priority", inner: `<priority>-128</priority>`, wantPrio: -128, wantPassed: true},
		{name: "priority too high", inner: `<priority>128</priority>`, want: xmpp.BadRequest},
		{name: "priority not a number", inner: `<priority>high</priority>`, want: xmpp.BadRequest},
		{name: "unknown type", typ: "bogus", to: bob, want: xmpp.BadRequest},
		{name: "subscribe without to", typ: "subscribe", want: xmpp.BadRequest},
		{name: "probe without to", typ: "probe", want: xmpp.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			s := w.Bind(alicePhone)
			err := w.send(t, alicePhone, tc.to, tc.typ, tc.inner)
			var se *xmpp.StanzaError
			var got xmpp.Condition
			if errors.As(err, &se) {
				got = se.Condition
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("condition %q, want %q", got, tc.want)
			}
			if tc.want == "" && s.Priority() != tc.wantPrio {
				t.Errorf("priority %d, want %d", s.Priority(), tc.wantPrio)
			}
			if (len(w.passed) > 0) != tc.wantPassed {
				t.Errorf("passed on %v", w.passed)
			}
		})
	}
}

func TestNonPresencePassesThrough(t *testing.T) {
	w := newWorld(t)
	w.Bind(alicePhone)
	msg := &xmpp.Stanza{Kind: xmpp.KindMessage, Name: "message", Space: xmpp.NSClient, Type: "chat", From: jid(alicePhone), To: jid(bob)}
	if err := w.Send(msg); err != nil {
		t.Fatal(err)
	}
	if len(w.passed) != 1 || w.passed[0].Kind != xmpp.KindMessage {
		t.Errorf("passed on %v", w.passed)
	}
}

func TestInitialProbeRepairsRoster(t *testing.T) {
	w := newWorld(t)
	// alice believes she sees carol; carol's roster says otherwise.
	w.set(t, alice, carol, roster.Item{Subscription: roster.To, Name: "Carol"})
	w.login(t, carolHome, `<show>away</show>`)
	w.traffic()

	w.login(t, alicePhone, "")
	expectTraffic(t, w.traffic(), []string{
		"presence available " + alicePhone + "→" + alicePhone,
		"push none " + carol + "→" + alicePhone,
		"presence unsubscribed " + carol + "→" + alicePhone,
	})
	if it := w.item(t, alice, carol); it.Subscription != roster.None || it.Name != "Carol" {
		t.Errorf("alice's item %+v", it)
	}
}

// TestReplacedSessionKeepsResourceOnline checks that when a new session
// takes over a resource and is already available, the old session's end
// broadcasts no unavailable presence for that resource.
func TestReplacedSessionKeepsResourceOnline(t *testing.T) {
	w := newWorld(t)
	w.set(t, alice, bob, roster.Item{Subscription: roster.Both})
	w.set(t, bob, alice, roster.Item{Subscription: roster.Both})
	w.login(t, bobDesk, "")
	old := w.Bind(alicePhone)
	w.mustSend(t, alicePhone, "", "", "")
	w.traffic()

	// The replacement binds the same full JID (the fake table now maps it
	// to the new session) and becomes available before the old one ends.
	w.login(t, alicePhone, "")
	w.traffic()
	w.presence.SessionClosed(ctx, old)
	for _, line := range w.traffic() {
		if strings.Contains(line, "unavailable") {
			t.Fatalf("the replaced session broadcast %q", line)
		}
	}
}
