package server_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/server/servertest"
)

const pw = "secret-pässword"

// TestBadInputAffectsOnlyItsSession sends each kind of hostile input on
// its own connection and checks the stream error it earns, and that a
// bystander session keeps working afterwards.
func TestBadInputAffectsOnlyItsSession(t *testing.T) {
	srv := servertest.Start(t, func(c *conf.Config) { c.Limits.MaxStanzaBytes = 4096 })
	srv.AddUser(t, "alice@localhost", pw)
	srv.AddUser(t, "bob@localhost", pw)
	srv.AddUser(t, "mallory@localhost", pw)
	bob := srv.Online(t, "bob@localhost", pw, "phone")

	cases := []struct {
		name      string
		input     string
		condition string
	}{
		{name: "malformed xml", input: `<message to='bob@localhost'><body>hi</message>`, condition: "not-well-formed"},
		{name: "bare ampersand", input: `<message to='bob@localhost'><body>a & b</body></message>`, condition: "not-well-formed"},
		{name: "bad utf-8", input: "<message to='bob@localhost'><body>\xff\xfe</body></message>", condition: "(not-well-formed|unsupported-encoding|invalid-xml)"},
		{name: "forbidden character", input: "<message to='bob@localhost'><body>a\x01b</body></message>", condition: "(not-well-formed|invalid-xml)"},
		{name: "undeclared prefix", input: `<message to='bob@localhost'><foo:bar/></message>`, condition: "bad-namespace-prefix"},
		{name: "entity bomb", input: `<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><message/>`, condition: "restricted-xml"},
		{name: "comment", input: `<message to='bob@localhost'><!-- hi --></message>`, condition: "restricted-xml"},
		{name: "processing instruction", input: `<?php echo 1; ?>`, condition: "restricted-xml"},
		{name: "undefined entity", input: `<message to='bob@localhost'><body>&nbsp;</body></message>`, condition: "(restricted-xml|not-well-formed)"},
		{name: "oversize stanza", input: `<message to='bob@localhost'><body>` + strings.Repeat("x", 8000) + `</body></message>`, condition: "policy-violation"},
		{name: "too deep", input: strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200), condition: "policy-violation"},
		{name: "forged from", input: `<message from='bob@localhost/phone' to='alice@localhost'><body>x</body></message>`, condition: "invalid-from"},
		{name: "unknown nonza", input: `<frobnicate xmlns='urn:example:nope'/>`, condition: "unsupported-stanza-type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Dial(t, "xmpp")
			c.Login("localhost", "mallory", pw, "evil")
			c.Send(tc.input)
			c.Expect(`<stream:error><` + tc.condition + ` xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
			if !c.Closed(5 * time.Second) {
				t.Fatal("the server did not close the stream")
			}
			// The bystander is unaffected and still receives messages.
			alice := srv.Online(t, "alice@localhost", pw, "laptop")
			alice.Send(`<message to='bob@localhost/phone' type='chat' id='after'><body>still here</body></message>`)
			bob.Expect(`<body>still here</body>`)
		})
	}
}

// TestBeforeAuthentication checks that stanzas before authentication are
// refused with not-authorized, and that STARTTLS is required.
func TestBeforeAuthentication(t *testing.T) {
	srv := servertest.Start(t, nil)
	t.Run("stanza before tls", func(t *testing.T) {
		c := srv.Dial(t, "xmpp")
		c.Header("localhost")
		c.Expect(`<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/></starttls>`)
		c.Send(`<message to='bob@localhost'><body>hi</body></message>`)
		c.Expect(`<policy-violation `)
	})
	t.Run("stanza before auth", func(t *testing.T) {
		c := srv.Dial(t, "xmpp")
		c.StartTLS("localhost")
		c.Expect(`</stream:features>`)
		c.Send(`<message to='bob@localhost'><body>hi</body></message>`)
		c.Expect(`<not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
	})
	t.Run("unknown host", func(t *testing.T) {
		c := srv.Dial(t, "xmpp")
		c.Header("example.org")
		c.Expect(`<host-unknown `)
	})
	t.Run("plain not offered before tls", func(t *testing.T) {
		srv := servertest.Start(t, func(c *conf.Config) {
			no := false
			c.Listeners[0].RequireTLS = &no
		})
		c := srv.Dial(t, "xmpp")
		c.Header("localhost")
		f := c.Expect(`<stream:features>.*?</stream:features>`)
		if strings.Contains(f, "PLAIN") {
			t.Fatalf("PLAIN offered on an unencrypted stream: %s", f)
		}
		if !strings.Contains(f, "SCRAM-SHA-256") {
			t.Fatalf("SCRAM-SHA-256 not offered: %s", f)
		}
	})
}

// TestWrongPasswords checks failures, the per-stream attempt limit and
// that a wrong password never reveals whether the account exists.
func TestWrongPasswords(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	auth := func(c *servertest.Conn, user, pass string) {
		c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` +
			b64("\x00"+user+"\x00"+pass) + `</auth>`)
	}
	c := srv.Dial(t, "xmpp")
	c.StartTLS("localhost")
	c.Expect(`</stream:features>`)
	auth(c, "alice", "wrong")
	c.Expect(`<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/>`)
	auth(c, "nobody", "wrong")
	c.Expect(`<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/>`)
	auth(c, "alice", "wrong again")
	c.Expect(`<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl">`)
	c.Expect(`<policy-violation `)
	if !c.Closed(5 * time.Second) {
		t.Fatal("stream not closed after repeated failures")
	}
	// The right password still works on a new stream.
	ok := srv.Dial(t, "xmpp")
	ok.Login("localhost", "alice", pw, "r")
}

// TestMessageRouting checks delivery to full and bare JIDs, XML-special
// and non-ASCII content delivered byte for byte, and errors for unknown
// recipients.
func TestMessageRouting(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	srv.AddUser(t, "bob@localhost", pw)
	alice := srv.Online(t, "alice@localhost", pw, "a")
	bob := srv.Online(t, "bob@localhost", pw, "b")

	body := `&lt;tag&gt; &amp; "quotes" 'apos' — ünïcödé 🦜`
	alice.Send(`<message to='bob@localhost' type='chat' id='m1'><body>` + body + `</body></message>`)
	got := bob.Expect(`<message [^>]*id="m1"[^>]*>.*?</message>`)
	if !strings.Contains(got, `from="alice@localhost/a"`) || !strings.Contains(got, "<body>"+body+"</body>") {
		t.Fatalf("delivered message differs: %s", got)
	}

	alice.Send(`<message to='nobody@localhost' type='chat' id='m2'><body>x</body></message>`)
	alice.Expect(`<message [^>]*id="m2"[^>]*type="error".*?<service-unavailable `)

	alice.Send(`<message to='bob@elsewhere.example' type='chat' id='m3'><body>x</body></message>`)
	alice.Expect(`id="m3"[^>]*type="error".*?<remote-server-not-found `)

	alice.Send(`<iq to='localhost' type='get' id='q1'><query xmlns='urn:example:unknown'/></iq>`)
	alice.Expect(`id="q1"[^>]*type="error".*?<service-unavailable `)

	alice.Send(`<message to='bad@@jid' id='m4'><body>x</body></message>`)
	alice.Expect(`id="m4"[^>]*type="error".*?<jid-malformed `)
}

// TestIsolatedDomain checks that stanzas across an isolated domain's
// border are refused while same-domain traffic flows.
func TestIsolatedDomain(t *testing.T) {
	srv := servertest.Start(t, func(c *conf.Config) {
		c.Hosts = append(c.Hosts, conf.Host{Domain: "tenant.example", Isolated: true})
		c.Hosts = append(c.Hosts, conf.Host{Domain: "open.example"})
	})
	srv.AddUser(t, "alice@localhost", pw)
	srv.AddUser(t, "carol@tenant.example", pw)
	srv.AddUser(t, "dave@open.example", pw)
	alice := srv.Online(t, "alice@localhost", pw, "a")
	dave := srv.Online(t, "dave@open.example", pw, "d")

	alice.Send(`<message to='carol@tenant.example' type='chat' id='x1'><body>hi</body></message>`)
	alice.Expect(`id="x1"[^>]*type="error".*?<not-allowed `)
	alice.Send(`<message to='dave@open.example/d' type='chat' id='x2'><body>across</body></message>`)
	dave.Expect(`<body>across</body>`)
}

// TestSlowReader checks that a client that stops reading is cut off with a
// policy-violation once its queue is full, and that its senders carry on.
func TestSlowReader(t *testing.T) {
	srv := servertest.Start(t, func(c *conf.Config) { c.Limits.OutboundQueueBytes = 64 << 10 })
	srv.AddUser(t, "alice@localhost", pw)
	srv.AddUser(t, "bob@localhost", pw)
	srv.AddUser(t, "carol@localhost", pw)
	alice := srv.Online(t, "alice@localhost", pw, "a")
	srv.Online(t, "bob@localhost", pw, "b") // never reads again
	carol := srv.Online(t, "carol@localhost", pw, "c")

	big := strings.Repeat("y", 2000)
	for i := 0; i < 2000; i++ {
		alice.Send(fmt.Sprintf(`<message to='bob@localhost/b' type='chat'><body>%d %s</body></message>`, i, big))
	}
	alice.Send(`<message to='carol@localhost/c' type='chat'><body>done</body></message>`)
	carol.Expect(`<body>done</body>`)
	// Kicked for being slow, bob's session is gone.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Status().Sessions != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("slow reader still bound; status %+v", srv.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if srv.Status().SlowConsumers < 1 {
		t.Fatalf("no slow-consumer kick counted")
	}
}

// TestResourceConflictReplaces checks the default policy: a second bind of
// the same resource closes the first session with a conflict error.
func TestResourceConflictReplaces(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	first := srv.Dial(t, "xmpp")
	first.Login("localhost", "alice", pw, "desk")
	second := srv.Dial(t, "xmpp")
	if got := second.Login("localhost", "alice", pw, "desk"); got != "alice@localhost/desk" {
		t.Fatalf("second bind got %s", got)
	}
	first.Expect(`<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestIdleTimeout checks that whitespace keepalives keep a session alive
// and that silence past the idle timeout ends it with connection-timeout.
func TestIdleTimeout(t *testing.T) {
	srv := servertest.Start(t, func(c *conf.Config) { c.Limits.IdleTimeout = 400 * time.Millisecond })
	srv.AddUser(t, "alice@localhost", pw)
	c := srv.Dial(t, "xmpp")
	c.Login("localhost", "alice", pw, "r")
	for i := 0; i < 8; i++ { // 800 ms of keepalives, twice the timeout
		time.Sleep(100 * time.Millisecond)
		c.Send(" ")
	}
	c.Send(`<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.Expect(`id="still"[^>]*type="result"|type="result"[^>]*id="still"`)
	c.Expect(`<connection-timeout xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
	if !c.Closed(2 * time.Second) {
		t.Fatal("idle connection not closed")
	}
}

// TestGracefulShutdown checks that stopping the server closes every
// client's stream with system-shutdown.
func TestGracefulShutdown(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	c := srv.Dial(t, "xmpp")
	c.Login("localhost", "alice", pw, "r")
	srv.Stop()
	c.Expect(`<system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>.*</stream:stream>`)
}

// TestDirectTLS logs in on the XEP-0368 port, where TLS comes first and
// STARTTLS is not offered.
func TestDirectTLS(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	c := srv.Dial(t, "xmpps")
	c.Header("localhost")
	f := c.Expect(`<stream:features>.*?</stream:features>`)
	if strings.Contains(f, "starttls") || !strings.Contains(f, "PLAIN") {
		t.Fatalf("direct TLS features: %s", f)
	}
	c2 := srv.Dial(t, "xmpps")
	if got := c2.Login("localhost", "alice", pw, "tls"); got != "alice@localhost/tls" {
		t.Fatalf("bound %s", got)
	}
}

// TestSessionCapRefuses checks that connections above the cap get a
// resource-constraint stream error and that the slot comes back when a
// connection closes.
func TestSessionCapRefuses(t *testing.T) {
	srv := servertest.Start(t, func(c *conf.Config) { c.Limits.MaxSessions = 2 })
	srv.AddUser(t, "alice@localhost", pw)
	a := srv.Dial(t, "xmpp")
	a.Login("localhost", "alice", pw, "one")
	b := srv.Dial(t, "xmpp")
	b.Login("localhost", "alice", pw, "two")
	over := srv.Dial(t, "xmpp")
	over.Expect(`<resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
	if !over.Closed(5 * time.Second) {
		t.Fatal("the refused connection stayed open")
	}
	a.Send(`</stream:stream>`)
	if !a.Closed(5 * time.Second) {
		t.Fatal("the server did not close the ended stream")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := srv.Dial(t, "xmpp")
		c.Header("localhost")
		if _, ok := c.TryExpect(`<stream:features>`, 2*time.Second); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the freed slot was not given back")
		}
	}
}
