package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"
)

const (
	melliumTimeout = 15 * time.Second
	nsInterop      = "urn:example:parley:interop"
)

// melliumBodies must come back exactly as sent: XML specials, a CDATA
// terminator, astral-plane emoji, a combining sequence the server must not
// normalise, and a newline (which encoding/xml sends as a character
// reference).
var melliumBodies = []string{
	"hello from mellium",
	`<&>"'`,
	"]]> <![CDATA[ x ]]>",
	"emoji 😀👍🏽 family 👨\u200d👩\u200d👧",
	"combining e\u0301 ≠ \u00e9",
	"line one\nline two\ttab",
}

// melliumClient is a logged-in mellium session whose received messages,
// presences and roster pushes are collected by a Serve loop.
type melliumClient struct {
	s         *xmpp.Session
	messages  chan inMessage
	presences chan inPresence
	pushes    chan string
	served    chan error
	closeOnce sync.Once
}

type payload struct {
	Attr string `xml:"attr,attr"`
	Text string `xml:",chardata"`
}

type outMessage struct {
	stanza.Message
	Body    string   `xml:"body"`
	Payload *payload `xml:"urn:example:parley:interop payload,omitempty"`
}

type inMessage struct {
	XMLName xml.Name `xml:"message"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr"`
	Type    string   `xml:"type,attr"`
	Body    string   `xml:"body"`
	Payload *payload `xml:"urn:example:parley:interop payload"`
}

type inPresence struct {
	XMLName xml.Name `xml:"presence"`
	From    string   `xml:"from,attr"`
	Type    string   `xml:"type,attr"`
	Status  string   `xml:"status"`
}

type inIQ struct {
	XMLName xml.Name  `xml:"iq"`
	ID      string    `xml:"id,attr"`
	Type    string    `xml:"type,attr"`
	From    string    `xml:"from,attr"`
	Ping    *struct{} `xml:"urn:xmpp:ping ping"`
	Roster  *struct {
		Items []struct {
			JID string `xml:"jid,attr"`
		} `xml:"item"`
	} `xml:"jabber:iq:roster query"`
}

// tlsConfig trusts exactly the server's generated certificate.
func (s *server) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("interop: no certificate in %s", s.certFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: domain, MinVersion: tls.VersionTLS12}
}

// dialMellium logs a in over STARTTLS with exactly one SASL mechanism.
func (s *server) dialMellium(t *testing.T, a account, mech sasl.Mechanism) (*xmpp.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), melliumTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.xmppAddr)
	if err != nil {
		return nil, err
	}
	sess, err := xmpp.NewClientSession(ctx, jid.MustParse(a.jid()), conn,
		xmpp.StartTLS(s.tlsConfig(t)),
		xmpp.SASL("", a.password, mech),
		xmpp.BindResource(),
	)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return sess, nil
}

// connectMellium logs in, starts the receive loop and sends initial
// presence; the session is closed when the test ends.
func (s *server) connectMellium(t *testing.T, a account) *melliumClient {
	t.Helper()
	sess, err := s.dialMellium(t, a, sasl.ScramSha256)
	if err != nil {
		t.Fatalf("mellium: %s login: %v", a.jid(), err)
	}
	c := &melliumClient{
		s:         sess,
		messages:  make(chan inMessage, 256),
		presences: make(chan inPresence, 256),
		pushes:    make(chan string, 64),
		served:    make(chan error, 1),
	}
	go func() { c.served <- sess.Serve(xmpp.HandlerFunc(c.handle)) }()
	t.Cleanup(c.close)
	ctx, cancel := context.WithTimeout(context.Background(), melliumTimeout)
	defer cancel()
	if err := sess.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
		t.Fatalf("mellium: initial presence: %v", err)
	}
	// Stanzas of one session are processed in order (RFC 6120 §10.1): once
	// a ping sent after the presence is answered, the session is available
	// and messages to the bare JID reach it instead of offline storage.
	if err := ping.Send(ctx, sess, jid.MustParse(domain)); err != nil {
		t.Fatalf("mellium: ping after initial presence: %v", err)
	}
	return c
}

func (c *melliumClient) close() {
	c.closeOnce.Do(func() {
		c.s.Close()
		select {
		case <-c.served:
		case <-time.After(melliumTimeout):
		}
		c.s.Conn().Close()
	})
}

// handle records stanzas and answers pings and roster pushes; mellium
// answers any other IQ get or set with service-unavailable.
func (c *melliumClient) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	// t yields the element's inner tokens and its end; the decoder needs
	// the start too to keep its nesting straight.
	d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t))
	switch start.Name.Local {
	case "message":
		var m inMessage
		if err := d.Decode(&m); err != nil {
			return err
		}
		c.messages <- m
	case "presence":
		var p inPresence
		if err := d.Decode(&p); err != nil {
			return err
		}
		c.presences <- p
	case "iq":
		var iq inIQ
		if err := d.Decode(&iq); err != nil {
			return err
		}
		if iq.Type != "get" && iq.Type != "set" {
			return nil
		}
		if iq.Roster != nil && iq.Type == "set" {
			for _, it := range iq.Roster.Items {
				c.pushes <- it.JID
			}
		} else if iq.Ping == nil {
			return nil
		}
		to, _ := jid.Parse(iq.From)
		return t.Encode(stanza.IQ{ID: iq.ID, Type: stanza.ResultIQ, To: to})
	}
	return nil
}

func (c *melliumClient) send(t *testing.T, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), melliumTimeout)
	defer cancel()
	if err := c.s.Encode(ctx, v); err != nil {
		t.Fatalf("mellium: send: %v", err)
	}
}

// nextMessage waits for the next message with a body from a sender.
func (c *melliumClient) nextMessage(t *testing.T, from string) inMessage {
	t.Helper()
	deadline := time.After(melliumTimeout)
	for {
		select {
		case m := <-c.messages:
			if m.Body != "" && strings.HasPrefix(m.From, from) {
				return m
			}
		case err := <-c.served:
			t.Fatalf("mellium: session ended while waiting for a message from %s: %v", from, err)
		case <-deadline:
			t.Fatalf("mellium: no message from %s within %v", from, melliumTimeout)
		}
	}
}

// TestMellium drives the server with mellium.im/xmpp, the Go client the
// rest of Parley's tests are written in.
func TestMellium(t *testing.T) {
	requireInterop(t)
	s := startServer(t)

	t.Run("sasl", func(t *testing.T) {
		a, b := s.newAccounts(t, "mellium-sasl")
		mechs := []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}
		for _, mech := range mechs {
			for _, acct := range []account{a, b} {
				sess, err := s.dialMellium(t, acct, mech)
				if err != nil {
					t.Errorf("%s with %s: %v", acct.jid(), mech.Name, err)
					continue
				}
				if got := sess.LocalAddr().Bare().String(); got != acct.jid() {
					t.Errorf("%s with %s: bound %s", acct.jid(), mech.Name, sess.LocalAddr())
				}
				if !sess.ConnectionState().HandshakeComplete {
					t.Errorf("%s with %s: session is not over TLS", acct.jid(), mech.Name)
				}
				sess.Close()
				sess.Conn().Close()
			}
			bad := account{a.local, a.password + "x"}
			if sess, err := s.dialMellium(t, bad, mech); err == nil {
				sess.Conn().Close()
				t.Errorf("%s with a wrong password logged in", mech.Name)
			}
		}
	})

	t.Run("messages", func(t *testing.T) {
		a, b := s.newAccounts(t, "mellium-msg")
		ca, cb := s.connectMellium(t, a), s.connectMellium(t, b)
		for _, dir := range []struct{ from, to *melliumClient }{{ca, cb}, {cb, ca}} {
			from := dir.from.s.LocalAddr()
			for i, body := range melliumBodies {
				dir.from.send(t, outMessage{
					Message: stanza.Message{ID: fmt.Sprintf("mel%d", i), To: dir.to.s.LocalAddr().Bare(), Type: stanza.ChatMessage},
					Body:    body,
					Payload: &payload{Attr: `<&"'>`, Text: "ext ✓"},
				})
			}
			for i, body := range melliumBodies {
				m := dir.to.nextMessage(t, from.String())
				if m.Body != body || m.ID != fmt.Sprintf("mel%d", i) {
					t.Errorf("message %d from %s: got id %q body %q, want id mel%d body %q", i, from, m.ID, m.Body, i, body)
				}
				if m.From != from.String() {
					t.Errorf("message %d: from %q, want the sender's full JID %q", i, m.From, from)
				}
				if m.Payload == nil || m.Payload.Attr != `<&"'>` || m.Payload.Text != "ext ✓" {
					t.Errorf("message %d: extension payload %+v, want attr <&\"'> text \"ext ✓\"", i, m.Payload)
				}
			}
		}
	})

	t.Run("roster", func(t *testing.T) {
		a, b := s.newAccounts(t, "mellium-roster")
		ca := s.connectMellium(t, a)
		ctx, cancel := context.WithTimeout(context.Background(), 3*melliumTimeout)
		defer cancel()
		// Roster pushes go to interested resources: those that fetched it.
		if got := fetchRoster(ctx, t, ca.s); len(got) != 0 {
			t.Errorf("fresh account has roster items %v", got)
		}
		item := roster.Item{JID: jid.MustParse(b.jid()), Name: "B ✓ <&>", Group: []string{"Mellium"}}
		if err := roster.Set(ctx, ca.s, item); err != nil {
			t.Fatalf("roster set: %v", err)
		}
		select {
		case j := <-ca.pushes:
			if j != b.jid() {
				t.Errorf("roster push for %s, want %s", j, b.jid())
			}
		case <-time.After(melliumTimeout):
			t.Errorf("no roster push after roster set")
		}
		got := fetchRoster(ctx, t, ca.s)
		i := slices.IndexFunc(got, func(it roster.Item) bool { return it.JID.String() == b.jid() })
		if i < 0 {
			t.Fatalf("roster %v lacks %s", got, b.jid())
		}
		if got[i].Name != item.Name || !slices.Equal(got[i].Group, item.Group) || (got[i].Subscription != "" && got[i].Subscription != "none") {
			t.Errorf("roster item %+v, want name %q groups %v subscription none", got[i], item.Name, item.Group)
		}
		if err := roster.Delete(ctx, ca.s, item.JID); err != nil {
			t.Fatalf("roster delete: %v", err)
		}
		if got := fetchRoster(ctx, t, ca.s); slices.ContainsFunc(got, func(it roster.Item) bool { return it.JID.Equal(item.JID) }) {
			t.Errorf("roster still holds %s after delete: %v", b.jid(), got)
		}
	})

	t.Run("disco", func(t *testing.T) {
		a, _ := s.newAccounts(t, "mellium-disco")
		ca := s.connectMellium(t, a)
		ctx, cancel := context.WithTimeout(context.Background(), melliumTimeout)
		defer cancel()
		got, err := disco.GetInfo(ctx, "", jid.MustParse(domain), ca.s)
		if err != nil {
			t.Fatalf("disco#info on %s: %v", domain, err)
		}
		if !slices.ContainsFunc(got.Identity, func(id info.Identity) bool { return id.Category == "server" && id.Type == "im" }) {
			t.Errorf("server identities %+v lack server/im", got.Identity)
		}
		var vars []string
		for _, f := range got.Features {
			vars = append(vars, f.Var)
		}
		for _, want := range []string{disco.NSInfo, "urn:xmpp:ping"} {
			if !slices.Contains(vars, want) {
				t.Errorf("server features %v lack %s", vars, want)
			}
		}
	})
}

func fetchRoster(ctx context.Context, t *testing.T, s *xmpp.Session) []roster.Item {
	t.Helper()
	iter := roster.Fetch(ctx, s)
	defer iter.Close()
	var items []roster.Item
	for iter.Next() {
		items = append(items, iter.Item())
	}
	if err := iter.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("roster get: %v", err)
	}
	return items
}
