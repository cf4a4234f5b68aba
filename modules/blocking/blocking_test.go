package blocking

import (
	"context"
	"testing"

	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

const (
	juliet = "juliet@example.org"
	romeo  = "romeo@montague.example"
	nurse  = "nurse@example.org"
)

func newHost(t *testing.T) (*moduletest.Host, *Module) {
	t.Helper()
	h := moduletest.NewHost(t, "example.org", "montague.example")
	m := new(Module)
	h.Provision(m)
	return h, m
}

func stanza(kind xmpp.Kind, typ, from, to, inner string) *xmpp.Stanza {
	return moduletest.NewStanza(kind, "s1", typ, from, to, inner)
}

func blockIQ(from, op string, jids ...string) *xmpp.Stanza {
	inner := "<" + op + ` xmlns="` + NS + `">`
	for _, j := range jids {
		inner += `<item jid="` + j + `"/>`
	}
	return stanza(xmpp.KindIQ, "set", from, "", inner+"</"+op+">")
}

func TestMatching(t *testing.T) {
	l := (*List)(nil).with([]xmpp.JID{
		xmpp.MustParseJID("romeo@montague.example"),
		xmpp.MustParseJID("tybalt@capulet.example/sword"),
		xmpp.MustParseJID("evil.example"),
		xmpp.MustParseJID("muc.example/Mercutio"),
	})
	tests := []struct {
		name string
		jid  string
		want bool
	}{
		{name: "bare JID blocks itself", jid: "romeo@montague.example", want: true},
		{name: "bare JID blocks every resource", jid: "romeo@montague.example/orchard", want: true},
		{name: "full JID blocks only that resource", jid: "tybalt@capulet.example/sword", want: true},
		{name: "full JID leaves other resources", jid: "tybalt@capulet.example/dagger"},
		{name: "full JID leaves the bare JID", jid: "tybalt@capulet.example"},
		{name: "domain blocks the domain", jid: "evil.example", want: true},
		{name: "domain blocks its users", jid: "iago@evil.example/x", want: true},
		{name: "domain blocks subdomains", jid: "room@muc.evil.example/nick", want: true},
		{name: "domain/resource blocks that resource of any user", jid: "room@muc.example/Mercutio", want: true},
		{name: "domain/resource leaves other resources", jid: "room@muc.example/Benvolio"},
		{name: "unrelated", jid: "nurse@example.org/kitchen"},
		{name: "similar domain suffix is not a subdomain", jid: "x@notevil.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.Blocks(xmpp.MustParseJID(tc.jid)); got != tc.want {
				t.Fatalf("Blocks(%s) = %v, want %v", tc.jid, got, tc.want)
			}
		})
	}
}

func TestBlockListPushes(t *testing.T) {
	h, _ := newHost(t)
	h.Bind(juliet + "/balcony")
	h.Bind(juliet + "/chamber")

	res, err := h.IQ(stanza(xmpp.KindIQ, "get", juliet+"/balcony", "", `<blocklist xmlns="`+NS+`"/>`))
	if err != nil || string(res) != `<blocklist xmlns="`+NS+`"/>` {
		t.Fatalf("empty list: %s, %v", res, err)
	}
	steps := []struct {
		name     string
		st       *xmpp.Stanza
		wantErr  xmpp.Condition
		wantList []string
		wantPush string // content pushed to the balcony only
	}{
		{name: "block two", st: blockIQ(juliet+"/chamber", "block", romeo, "Evil.Example"),
			wantList: []string{"evil.example", romeo},
			wantPush: `<block xmlns="` + NS + `"><item jid="` + romeo + `"/><item jid="evil.example"/></block>`},
		{name: "block without items", st: blockIQ(juliet+"/chamber", "block"), wantErr: xmpp.BadRequest,
			wantList: []string{"evil.example", romeo}},
		{name: "malformed JID", st: blockIQ(juliet+"/chamber", "block", "@bad"), wantErr: xmpp.JIDMalformed,
			wantList: []string{"evil.example", romeo}},
		{name: "unblock one", st: blockIQ(juliet+"/chamber", "unblock", romeo),
			wantList: []string{"evil.example"},
			wantPush: `<unblock xmlns="` + NS + `"><item jid="` + romeo + `"/></unblock>`},
		{name: "unblock all", st: blockIQ(juliet+"/chamber", "unblock"),
			wantPush: `<unblock xmlns="` + NS + `"/>`},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.IQ(tc.st)
			if tc.wantErr != "" {
				if se, ok := err.(*xmpp.StanzaError); !ok || se.Condition != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			d := h.Delivered()
			if tc.wantPush == "" {
				if len(d) != 0 {
					t.Fatalf("unexpected pushes %v", d)
				}
			} else {
				if len(d) != 1 || d[0].To.String() != juliet+"/balcony" || string(d[0].Stanza.Inner) != tc.wantPush ||
					d[0].Stanza.Type != "set" {
					t.Fatalf("pushes %v, want one to the balcony with %s", d, tc.wantPush)
				}
			}
			res, err := h.IQ(stanza(xmpp.KindIQ, "get", juliet+"/balcony", "", `<blocklist xmlns="`+NS+`"/>`))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(appendItems(nil, "blocklist", tc.wantList)); string(res) != got {
				t.Fatalf("list %s, want %s", res, got)
			}
		})
	}
	t.Run("another user's list", func(t *testing.T) {
		_, err := h.IQ(stanza(xmpp.KindIQ, "get", nurse+"/kitchen", juliet, `<blocklist xmlns="`+NS+`"/>`))
		if se, ok := err.(*xmpp.StanzaError); !ok || se.Condition != xmpp.Forbidden {
			t.Fatalf("error %v, want forbidden", err)
		}
	})
}

func TestEnforcement(t *testing.T) {
	h, _ := newHost(t)
	h.Bind(juliet + "/balcony")
	h.Bind(romeo + "/orchard")
	if _, err := h.IQ(blockIQ(juliet+"/balcony", "block", romeo)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.IQ(blockIQ(romeo+"/orchard", "block", "montague.example")); err != nil {
		t.Fatal(err)
	}
	h.Delivered()
	blocked := &xmpp.StanzaError{Type: xmpp.Cancel, Condition: xmpp.NotAcceptable}
	unavailable := &xmpp.StanzaError{Condition: xmpp.ServiceUnavailable}
	tests := []struct {
		name      string
		stage     string // inbound, deliver (to the session in 'to'), unrouted
		st        *xmpp.Stanza
		wantErr   *xmpp.StanzaError
		wantPass  bool // reached the end of the chain
		wantBlock bool // the error carries <blocked/>
	}{
		{name: "user messages blocked contact", stage: "inbound", wantErr: blocked, wantBlock: true,
			st: stanza(xmpp.KindMessage, "chat", juliet+"/balcony", romeo, "<body>hi</body>")},
		{name: "user sends IQ to blocked contact", stage: "inbound", wantErr: blocked, wantBlock: true,
			st: stanza(xmpp.KindIQ, "get", juliet+"/balcony", romeo+"/orchard", `<ping xmlns="urn:xmpp:ping"/>`)},
		{name: "user's presence to blocked contact dropped", stage: "inbound",
			st: stanza(xmpp.KindPresence, "subscribe", juliet+"/balcony", romeo, "")},
		{name: "user's IQ result to blocked contact dropped", stage: "inbound",
			st: stanza(xmpp.KindIQ, "result", juliet+"/balcony", romeo+"/orchard", "")},
		{name: "blocked contact's message to the user dropped", stage: "inbound",
			st: stanza(xmpp.KindMessage, "chat", romeo+"/orchard", juliet, "<body>hi</body>")},
		{name: "blocked contact's subscription request dropped", stage: "inbound",
			st: stanza(xmpp.KindPresence, "subscribe", romeo+"/orchard", juliet, "")},
		{name: "blocked contact's IQ to the user's account refused", stage: "inbound", wantErr: unavailable,
			st: stanza(xmpp.KindIQ, "get", romeo+"/orchard", juliet, `<vCard xmlns="vcard-temp"/>`)},
		{name: "unrelated message passes", stage: "inbound", wantPass: true,
			st: stanza(xmpp.KindMessage, "chat", nurse+"/kitchen", juliet, "<body>hi</body>")},
		{name: "IQ to the own server passes though the user blocked its domain", stage: "inbound", wantPass: true,
			st: stanza(xmpp.KindIQ, "get", romeo+"/orchard", "montague.example", `<ping xmlns="urn:xmpp:ping"/>`)},
		{name: "blocked sender's message dropped at delivery", stage: "deliver",
			st: stanza(xmpp.KindMessage, "chat", romeo+"/orchard", juliet+"/balcony", "<body>hi</body>")},
		{name: "blocked sender's presence dropped at delivery", stage: "deliver",
			st: stanza(xmpp.KindPresence, "", romeo+"/orchard", juliet+"/balcony", "")},
		{name: "blocked sender's IQ answered service-unavailable", stage: "deliver", wantErr: unavailable,
			st: stanza(xmpp.KindIQ, "set", romeo+"/orchard", juliet+"/balcony", `<query xmlns="jabber:iq:version"/>`)},
		{name: "blocked sender's IQ result dropped", stage: "deliver",
			st: stanza(xmpp.KindIQ, "result", romeo+"/orchard", juliet+"/balcony", "")},
		{name: "user's presence broadcast to blocked contact dropped", stage: "deliver",
			st: stanza(xmpp.KindPresence, "", juliet+"/balcony", romeo+"/orchard", "")},
		{name: "PEP notification from the user to blocked contact dropped", stage: "deliver",
			st: stanza(xmpp.KindMessage, "headline", juliet, romeo+"/orchard", `<event xmlns="http://jabber.org/protocol/pubsub#event"/>`)},
		{name: "user's unavailable presence to blocked contact passes", stage: "deliver", wantPass: true,
			st: stanza(xmpp.KindPresence, "unavailable", juliet+"/balcony", romeo+"/orchard", "")},
		{name: "server stanza to the user passes", stage: "deliver", wantPass: true,
			st: stanza(xmpp.KindMessage, "headline", "example.org", juliet+"/balcony", "<body>notice</body>")},
		{name: "other sender delivered", stage: "deliver", wantPass: true,
			st: stanza(xmpp.KindMessage, "chat", nurse+"/kitchen", juliet+"/balcony", "<body>hi</body>")},
		{name: "blocked sender's message not stored offline", stage: "unrouted",
			st: stanza(xmpp.KindMessage, "chat", romeo+"/orchard", juliet, "<body>hi</body>")},
		{name: "other sender's message goes on to offline", stage: "unrouted", wantPass: true, wantErr: unavailable,
			st: stanza(xmpp.KindMessage, "chat", nurse+"/kitchen", juliet, "<body>hi</body>")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			passed := false
			switch tc.stage {
			case "inbound":
				err = h.Send(tc.st)
				passed = len(h.Routed()) > 0
			case "deliver":
				err = h.RunDeliver(tc.st.To.String(), tc.st)
				passed = len(h.Delivered()) > 0
			case "unrouted":
				err = h.RunUnrouted(tc.st)
				passed = err != nil // only the end of the chain answers
			}
			if passed != tc.wantPass {
				t.Fatalf("passed = %v, want %v", passed, tc.wantPass)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			se, ok := err.(*xmpp.StanzaError)
			if !ok || se.Condition != tc.wantErr.Condition {
				t.Fatalf("error %v, want %s", err, tc.wantErr.Condition)
			}
			if tc.wantBlock && (se.Type != xmpp.Cancel || string(se.App) != `<blocked xmlns="`+NSErrors+`"/>`) {
				t.Fatalf("error %+v lacks the blocked condition", se)
			}
		})
	}
}

func TestPresenceOnBlock(t *testing.T) {
	h, _ := newHost(t)
	ctx := context.Background()
	rs := roster.NewStore(h.Storage())
	for jid, sub := range map[string]roster.Subscription{romeo: roster.Both, nurse: roster.To} {
		if _, err := rs.Put(ctx, xmpp.MustParseJID(juliet), roster.Item{JID: xmpp.MustParseJID(jid), Subscription: sub}); err != nil {
			t.Fatal(err)
		}
	}
	avail := h.Bind(juliet + "/balcony")
	avail.SetAvailable(stanza(xmpp.KindPresence, "", juliet+"/balcony", "", "<show>away</show>"))
	h.Bind(juliet + "/chamber") // not available: sends nothing

	if _, err := h.IQ(blockIQ(juliet+"/balcony", "block", romeo, nurse)); err != nil {
		t.Fatal(err)
	}
	r := h.Routed()
	if len(r) != 1 || r[0].Type != "unavailable" || r[0].From.String() != juliet+"/balcony" || r[0].To.String() != romeo {
		t.Fatalf("routed on block: %v, want unavailable presence to %s only (the nurse has no 'from' subscription)", r, romeo)
	}
	if _, err := h.IQ(blockIQ(juliet+"/balcony", "unblock")); err != nil {
		t.Fatal(err)
	}
	r = h.Routed()
	if len(r) != 1 || r[0].Type != "" || r[0].To.String() != romeo || string(r[0].Inner) != "<show>away</show>" {
		t.Fatalf("routed on unblock: %v, want the current presence to %s", r, romeo)
	}
}

func TestCacheFollowsSessions(t *testing.T) {
	h, m := newHost(t)
	if _, err := h.IQ(blockIQ(juliet+"/balcony", "block", romeo)); err != nil {
		t.Fatal(err)
	}
	h.Bind(juliet + "/balcony")
	h.Unbind(juliet + "/balcony")
	m.mu.RLock()
	_, cached := m.lists[xmpp.MustParseJID(juliet)]
	m.mu.RUnlock()
	if cached {
		t.Fatal("list still cached after the last session closed")
	}
	l, err := m.list(context.Background(), xmpp.MustParseJID(juliet))
	if err != nil || !l.Blocks(xmpp.MustParseJID(romeo)) {
		t.Fatalf("reloaded list %v, %v", l.JIDs(), err)
	}
}
