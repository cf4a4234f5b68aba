package pep

import (
	"context"
	"crypto/sha1"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/modules/caps"
	"github.com/parley-im/parley/modules/disco"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

// world is a test server with the caps and pep modules, accounts, rosters
// and clients whose disco#info answers come from clients.
type world struct {
	t       *testing.T
	h       *moduletest.Host
	clients map[string][]string // full JID → client features
	seen    []moduletest.Delivery
}

func newWorld(t *testing.T, users ...string) *world {
	t.Helper()
	w := &world{t: t, h: moduletest.NewHost(t, "example.org"), clients: map[string][]string{}}
	for _, u := range users {
		w.h.AddAccount(u, "pw")
	}
	w.h.IQResponder = w.answer
	w.h.Provision(new(caps.Module))
	w.h.Provision(new(Module))
	return w
}

func info(features []string) disco.Info {
	return disco.Info{Identities: []disco.Identity{{Category: "client", Type: "pc"}}, Features: features}
}

// answer plays the clients' side of the caps module's disco#info queries.
func (w *world) answer(iq *xmpp.Stanza) (*xmpp.Stanza, error) {
	f, ok := w.clients[iq.To.String()]
	if !ok {
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	node, _ := xmlAttr(iq.Inner, "node")
	return &xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, Type: "result", ID: iq.ID,
		From: iq.To, To: iq.From, Inner: info(f).AppendQuery(nil, node),
		Payload: xml.Name{Space: disco.NSInfo, Local: "query"},
	}, nil
}

func xmlAttr(b []byte, name string) (string, bool) {
	d := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		if t, ok := tok.(xml.StartElement); ok {
			return attr(t, name), true
		}
	}
}

// roster puts contact in user's roster with sub.
func (w *world) roster(user, contact string, sub roster.Subscription) {
	w.t.Helper()
	it := roster.Item{JID: xmpp.MustParseJID(contact), Subscription: sub}
	if _, err := roster.NewStore(w.h.Storage()).Put(context.Background(), xmpp.MustParseJID(user), it); err != nil {
		w.t.Fatal(err)
	}
}

// online binds full, makes it available with priority prio and a client
// advertising features (none: no <c/>), and waits for its caps to resolve.
func (w *world) online(full string, prio int, features ...string) *moduletest.Session {
	w.t.Helper()
	s := w.h.Bind(full)
	inner := "<priority>" + strconv.Itoa(prio) + "</priority>"
	if features != nil {
		w.clients[full] = features
		ver := info(features).Ver(sha1.New)
		inner += `<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://client.example" ver="` + ver + `"/>`
	}
	p := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, From: xmpp.MustParseJID(full), Inner: []byte(inner)}
	s.SetAvailable(p)
	if err := w.h.Send(p); err != nil {
		w.t.Fatal(err)
	}
	if e := caps.Of(s); e != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.Wait(ctx); err != nil {
			w.t.Fatalf("caps of %s: %v", full, err)
		}
	}
	return s
}

// iq builds an IQ from → to ("" for none) with the given payload.
func iq(from, to, typ, payload string) *xmpp.Stanza {
	return moduletest.NewStanza(xmpp.KindIQ, "t1", typ, from, to, payload)
}

// do sends an IQ to the handler and fails the test on an error.
func (w *world) do(st *xmpp.Stanza) string {
	w.t.Helper()
	res, err := w.h.IQ(st)
	if err != nil {
		w.t.Fatalf("%s: %v", st, err)
	}
	return string(res)
}

// publish publishes payload as item id (or none) to node as from.
func (w *world) publish(from, node, id, payload, options string) (string, error) {
	item := "<item>"
	if id != "" {
		item = `<item id="` + id + `">`
	}
	inner := `<pubsub xmlns="` + NS + `"><publish node="` + node + `">` + item + payload + `</item></publish>`
	if options != "" {
		inner += `<publish-options><x xmlns="jabber:x:data" type="submit">` +
			`<field var="FORM_TYPE" type="hidden"><value>` + formTypePublishOption + `</value></field>` +
			options + `</x></publish-options>`
	}
	res, err := w.h.IQ(iq(from, "", "set", inner+"</pubsub>"))
	return string(res), err
}

func field(v, value string) string {
	return `<field var="` + v + `"><value>` + value + `</value></field>`
}

// events waits up to d for deliveries and returns, by recipient, those
// carrying a pubsub event, collected since the last call.
func (w *world) events(d time.Duration) map[string][]string {
	deadline := time.Now().Add(d)
	for {
		w.seen = append(w.seen, w.h.Delivered()...)
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := map[string][]string{}
	for _, dl := range w.seen {
		if dl.Stanza.Kind == xmpp.KindMessage && strings.Contains(string(dl.Stanza.Inner), NSEvent) {
			out[dl.To.String()] = append(out[dl.To.String()], dl.Stanza.String())
		}
	}
	w.seen = nil
	return out
}

// errorIs checks err is a stanza error of cond with app element appName
// ("" for none).
func errorIs(t *testing.T, err error, cond xmpp.Condition, appName string) {
	t.Helper()
	se, ok := err.(*xmpp.StanzaError)
	if !ok {
		t.Fatalf("error = %v, want stanza error %s", err, cond)
	}
	if se.Condition != cond {
		t.Fatalf("condition = %s, want %s (%v)", se.Condition, cond, err)
	}
	if appName != "" && !strings.Contains(string(se.App), "<"+appName+" ") {
		t.Fatalf("app condition = %s, want %s", se.App, appName)
	}
}
