package offline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

const (
	juliet = "juliet@example.org"
	romeo  = "romeo@example.org/orchard"
)

func message(typ, inner string) *xmpp.Stanza {
	return &xmpp.Stanza{
		Kind: xmpp.KindMessage, Name: "message", Space: xmpp.NSClient, Type: typ, ID: "m1",
		From: xmpp.MustParseJID(romeo), To: xmpp.MustParseJID(juliet), Inner: []byte(inner),
	}
}

func TestStorable(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		inner string
		want  bool
	}{
		{name: "chat with body", typ: "chat", inner: "<body>hi</body>", want: true},
		{name: "no type with body", inner: "<body>hi</body>", want: true},
		{name: "normal with subject only", typ: "normal", inner: "<subject>s</subject>", want: true},
		{name: "chat state only", typ: "chat", inner: `<composing xmlns="` + NSChatStates + `"/>`},
		{name: "chat state, thread and origin-id", typ: "chat",
			inner: `<active xmlns="` + NSChatStates + `"/><thread>t</thread><origin-id xmlns="` + NSStanzaID + `" id="1"/>`},
		{name: "no-store hint", typ: "chat", inner: `<body>hi</body><no-store xmlns="` + NSHints + `"/>`},
		{name: "no-permanent-store allows offline", typ: "chat", inner: `<body>hi</body><no-permanent-store xmlns="` + NSHints + `"/>`, want: true},
		{name: "store hint keeps a chat state", typ: "chat", inner: `<paused xmlns="` + NSChatStates + `"/><store xmlns="` + NSHints + `"/>`, want: true},
		{name: "receipt alone", typ: "chat", inner: `<received xmlns="urn:xmpp:receipts" id="x"/>`, want: true},
		{name: "encrypted payload", typ: "chat", inner: `<encrypted xmlns="eu.siacs.conversations.axolotl"><header/></encrypted>`, want: true},
		{name: "headline", typ: "headline", inner: "<body>news</body>"},
		{name: "groupchat", typ: "groupchat", inner: "<body>hi</body>"},
		{name: "error", typ: "error", inner: "<body>hi</body>"},
		{name: "empty", typ: "chat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := storable(message(tc.typ, tc.inner)); got != tc.want {
				t.Fatalf("storable = %v, want %v", got, tc.want)
			}
		})
	}
}

func newHost(t *testing.T, conf string) (*moduletest.Host, *Module) {
	t.Helper()
	h := moduletest.NewHost(t, "example.org")
	if conf != "" {
		h.SetConfig(id, conf)
	}
	m := &Module{now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC) }}
	h.Provision(m)
	return h, m
}

// available makes the session available with priority prio and passes its
// broadcast presence down the Inbound chain, as the presence module does.
func available(t *testing.T, h *moduletest.Host, s *moduletest.Session, prio string) {
	t.Helper()
	p := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient,
		From: s.JID(), Inner: []byte("<priority>" + prio + "</priority>")}
	s.SetAvailable(p)
	if err := h.Send(p); err != nil {
		t.Fatal(err)
	}
}

func TestStoreAndReplay(t *testing.T) {
	h, _ := newHost(t, "")
	bodies := []string{"one", "two", "three"}
	for _, b := range bodies {
		if err := h.RunUnrouted(message("chat", "<body>"+b+"</body>")); err != nil {
			t.Fatalf("stored message bounced: %v", err)
		}
	}
	if err := h.RunUnrouted(message("chat", `<composing xmlns="`+NSChatStates+`"/>`)); err == nil {
		t.Fatal("a chat state alone was not passed on to be bounced")
	}
	if err := h.RunUnrouted(message("chat", `<body>secret</body><no-store xmlns="`+NSHints+`"/>`)); err == nil {
		t.Fatal("a message with <no-store/> was not passed on to be bounced")
	}

	low := h.Bind(juliet + "/low")
	available(t, h, low, "-1")
	if d := h.Delivered(); len(d) != 0 {
		t.Fatalf("negative priority session got %d messages", len(d))
	}

	s := h.Bind(juliet + "/balcony")
	available(t, h, s, "0")
	d := h.Delivered()
	if len(d) != len(bodies) {
		t.Fatalf("replayed %d messages, want %d", len(d), len(bodies))
	}
	for i, dl := range d {
		inner := string(dl.Stanza.Inner)
		wantDelay := `<delay xmlns="urn:xmpp:delay" from="example.org" stamp="2026-01-02T03:04:05.006Z">Offline Storage</delay>`
		if dl.To.String() != juliet+"/balcony" || !strings.HasPrefix(inner, "<body>"+bodies[i]+"</body>") ||
			!strings.HasSuffix(inner, wantDelay) || dl.Stanza.From.String() != romeo || dl.Stanza.Type != "chat" {
			t.Fatalf("message %d: to %s: %s", i, dl.To, dl.Stanza)
		}
	}
	c, err := count(context.Background(), h.Storage(), xmpp.MustParseJID(juliet))
	if err != nil || c.n != 0 {
		t.Fatalf("count after replay %d, %v", c.n, err)
	}
	if msgs, _ := messages(context.Background(), h.Storage(), xmpp.MustParseJID(juliet)); len(msgs) != 0 {
		t.Fatalf("%d messages left after replay", len(msgs))
	}

	t.Run("a message stored after the replay goes to the session at once", func(t *testing.T) {
		if err := h.RunUnrouted(message("chat", "<body>four</body>")); err != nil {
			t.Fatal(err)
		}
		d := h.Delivered()
		if len(d) != 1 || d[0].To.String() != juliet+"/balcony" || !strings.Contains(string(d[0].Stanza.Inner), "four") ||
			!strings.Contains(string(d[0].Stanza.Inner), "Offline Storage") {
			t.Fatalf("deliveries %v", d)
		}
		if n := storedCount(t, h); n != 0 {
			t.Fatalf("%d messages stored", n)
		}
	})
	// What a replay left behind (after a storage error) waits for the
	// next session that becomes a receiver.
	leftover := message("chat", "<body>five</body>")
	if err := add(context.Background(), h.Storage(), leftover.To, 1, leftover, counter{}); err != nil {
		t.Fatal(err)
	}
	t.Run("presence update does not replay again", func(t *testing.T) {
		available(t, h, s, "1")
		if d := h.Delivered(); len(d) != 0 {
			t.Fatalf("replayed on a presence update: %v", d)
		}
	})
	t.Run("becoming a receiver again replays", func(t *testing.T) {
		available(t, h, low, "2")
		d := h.Delivered()
		if len(d) != 1 || d[0].To.String() != juliet+"/low" || !strings.Contains(string(d[0].Stanza.Inner), "five") {
			t.Fatalf("deliveries %v", d)
		}
	})
}

func TestLimit(t *testing.T) {
	h, _ := newHost(t, "max_per_user: 2")
	for i := range 3 {
		err := h.RunUnrouted(message("chat", "<body>x</body>"))
		if i < 2 && err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 2 {
			se, ok := err.(*xmpp.StanzaError)
			if !ok || se.Condition != xmpp.ServiceUnavailable {
				t.Fatalf("message over the limit: %v", err)
			}
		}
	}
}

func TestAccountDeleted(t *testing.T) {
	h, m := newHost(t, "")
	if err := h.RunUnrouted(message("", "<body>x</body>")); err != nil {
		t.Fatal(err)
	}
	if err := m.AccountDeleted(context.Background(), xmpp.MustParseJID(juliet)); err != nil {
		t.Fatal(err)
	}
	if msgs, err := messages(context.Background(), h.Storage(), xmpp.MustParseJID(juliet)); err != nil || len(msgs) != 0 {
		t.Fatalf("messages after deletion: %d, %v", len(msgs), err)
	}
}

func TestBadConfig(t *testing.T) {
	if err := (Config{MaxPerUser: 0}).validate(); err == nil {
		t.Fatal("max_per_user 0 accepted")
	}
}
