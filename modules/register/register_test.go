package register

import (
	"context"
	"encoding/xml"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

func iq(typ, from, to, inner string) *xmpp.Stanza {
	st := &xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: "r1", Type: typ,
		Payload: xml.Name{Space: NS, Local: "query"}, Inner: []byte(inner)}
	if from != "" {
		st.From = xmpp.MustParseJID(from)
	}
	if to != "" {
		st.To = xmpp.MustParseJID(to)
	}
	return st
}

func q(children string) string { return `<query xmlns="` + NS + `">` + children + `</query>` }

func condition(err error) xmpp.Condition {
	var se *xmpp.StanzaError
	if errors.As(err, &se) {
		return se.Condition
	}
	return ""
}

func TestPreAuth(t *testing.T) {
	const form = `<query xmlns="jabber:iq:register"><instructions>Choose a username and password for your new account.</instructions><username/><password/></query>`
	tests := []struct {
		name     string
		closed   bool
		typ      string
		inner    string
		want     string
		wantCond xmpp.Condition
		// wantAccount is an account expected to exist afterwards, with
		// its password.
		wantAccount, wantPassword string
	}{
		{name: "form", typ: "get", inner: q(""), want: form},
		{name: "form when closed", closed: true, typ: "get", inner: q(""), wantCond: xmpp.ServiceUnavailable},
		{
			name: "register", typ: "set", inner: q("<username>Bill</username><password>Calliope</password>"),
			wantAccount: "bill@example.org", wantPassword: "Calliope",
		},
		{name: "register when closed", closed: true, typ: "set", inner: q("<username>bill</username><password>Calliope</password>"), wantCond: xmpp.NotAllowed},
		{name: "username taken", typ: "set", inner: q("<username>juliet</username><password>x</password>"), wantCond: xmpp.Conflict, wantAccount: "juliet@example.org", wantPassword: "R0m30"},
		{name: "no username", typ: "set", inner: q("<password>Calliope</password>"), wantCond: xmpp.NotAcceptable},
		{name: "empty password", typ: "set", inner: q("<username>bill</username><password/>"), wantCond: xmpp.NotAcceptable},
		{name: "username with @", typ: "set", inner: q("<username>bill@evil.example</username><password>x</password>"), wantCond: xmpp.NotAcceptable},
		{name: "username with /", typ: "set", inner: q("<username>bill/x</username><password>x</password>"), wantCond: xmpp.NotAcceptable},
		{name: "username with space", typ: "set", inner: q("<username>bill smith</username><password>x</password>"), wantCond: xmpp.NotAcceptable},
		{name: "password with an unassigned code point", typ: "set", inner: q("<username>bill</username><password>a\u0378b</password>"), wantCond: xmpp.NotAcceptable},
		{name: "remove before authentication", typ: "set", inner: q("<remove/>"), wantCond: xmpp.UnexpectedRequest},
		{name: "not a query", typ: "get", inner: `<register xmlns="` + NS + `"/>`, wantCond: xmpp.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := moduletest.NewHost(t, "example.org")
			h.SetRegistration("example.org", !tc.closed)
			h.AddAccount("juliet@example.org", "R0m30")
			h.Provision(new(Module))
			st := iq(tc.typ, "", "example.org", tc.inner)
			if tc.name == "not a query" {
				st.Payload.Local = "register"
			}
			got, err := h.PreAuthIQ(st)
			if c := condition(err); c != tc.wantCond || (err != nil && c == "") {
				t.Fatalf("error = %v, want condition %q", err, tc.wantCond)
			}
			if string(got) != tc.want {
				t.Errorf("result = %s, want %s", got, tc.want)
			}
			if tc.wantAccount != "" {
				if pw, ok := h.Password(tc.wantAccount); !ok || pw != tc.wantPassword {
					t.Errorf("account %s: password %q, exists %v; want %q", tc.wantAccount, pw, ok, tc.wantPassword)
				}
			}
			if _, ok := h.Password("bill@example.org"); ok != (tc.wantAccount == "bill@example.org") {
				t.Errorf("bill@example.org exists: %v", ok)
			}
		})
	}
}

func TestStreamFeatures(t *testing.T) {
	h := moduletest.NewHost(t, "open.example", "closed.example")
	h.SetRegistration("open.example", true)
	m := new(Module)
	h.Provision(m)
	tests := []struct {
		name          string
		domain        string
		authenticated bool
		want          string
	}{
		{name: "open, before auth", domain: "open.example", want: `<register xmlns="http://jabber.org/features/iq-register"/>`},
		{name: "open, after auth", domain: "open.example", authenticated: true},
		{name: "closed, before auth", domain: "closed.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(m.StreamFeatures(nil, tc.domain, tc.authenticated)); got != tc.want {
				t.Errorf("StreamFeatures = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.SetRegistration("example.org", true)
	h.SetConfig("register", "max_per_address: 2\nwindow: 1h")
	h.AddAccount("taken@example.org", "pw")
	m := new(Module)
	h.Provision(m)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.limit.now = func() time.Time { return now }

	steps := []struct {
		name     string
		addr     string
		user     string
		advance  time.Duration
		wantCond xmpp.Condition
	}{
		{name: "first", addr: "192.0.2.1", user: "a1"},
		{name: "a conflict costs nothing", addr: "192.0.2.1", user: "taken", wantCond: xmpp.Conflict},
		{name: "second", addr: "192.0.2.1", user: "a2"},
		{name: "third is refused", addr: "192.0.2.1", user: "a3", wantCond: xmpp.ResourceConstraint},
		{name: "mapped IPv4 is the same address", addr: "::ffff:192.0.2.1", user: "a3", wantCond: xmpp.ResourceConstraint},
		{name: "another address", addr: "192.0.2.2", user: "b1"},
		{name: "IPv6 first", addr: "2001:db8::1", user: "c1"},
		{name: "IPv6 second, same /64", addr: "2001:db8::2", user: "c2"},
		{name: "IPv6 third, same /64", addr: "2001:db8::3", user: "c3", wantCond: xmpp.ResourceConstraint},
		{name: "IPv6 other /64", addr: "2001:db8:0:1::1", user: "d1"},
		{name: "after the window", addr: "192.0.2.1", user: "a3", advance: time.Hour},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			now = now.Add(step.advance)
			ctx := modules.WithRemoteAddr(context.Background(), netip.MustParseAddr(step.addr))
			_, err := m.preAuth(ctx, iq("set", "", "example.org", q("<username>"+step.user+"</username><password>pw</password>")))
			if c := condition(err); c != step.wantCond || (err != nil && c == "") {
				t.Fatalf("error = %v, want condition %q", err, step.wantCond)
			}
		})
	}
	// Without an address (a server that does not pass one) there is no cap.
	for _, u := range []string{"n1", "n2", "n3"} {
		if _, err := m.preAuth(context.Background(), iq("set", "", "example.org", q("<username>"+u+"</username><password>pw</password>"))); err != nil {
			t.Errorf("register %s without an address: %v", u, err)
		}
	}
}

func TestAuthenticated(t *testing.T) {
	const juliet = "juliet@example.org/balcony"
	tests := []struct {
		name   string
		typ    string
		to     string
		inner  string
		want   string
		direct xmpp.Condition // an error returned to the server
		// routed is the condition of an error reply the module sent
		// itself ("result" for a routed result); "" if none.
		routed       string
		wantPassword string // juliet's password afterwards ("" if removed)
		wantClosed   bool
	}{
		{
			name: "registration info", typ: "get", to: "example.org", inner: q(""),
			want:         `<query xmlns="jabber:iq:register"><registered/><username>juliet</username><password/></query>`,
			wantPassword: "R0m30",
		},
		{name: "change password", typ: "set", to: "example.org", inner: q("<username>juliet</username><password>n3w</password>"), wantPassword: "n3w"},
		{name: "change password, no to", typ: "set", inner: q("<username>juliet</username><password>n3w</password>"), wantPassword: "n3w"},
		{name: "change password, username as JID", typ: "set", to: "example.org", inner: q("<username>Juliet@example.org</username><password>n3w</password>"), wantPassword: "n3w"},
		{name: "someone else's password", typ: "set", to: "example.org", inner: q("<username>romeo</username><password>n3w</password>"), routed: "not-allowed", wantPassword: "R0m30"},
		{name: "no username", typ: "set", to: "example.org", inner: q("<password>n3w</password>"), routed: "bad-request", wantPassword: "R0m30"},
		{name: "empty password keeps the old one", typ: "set", to: "example.org", inner: q("<username>juliet</username><password></password>"), routed: "bad-request", wantPassword: "R0m30"},
		{name: "another user's account", typ: "get", to: "romeo@example.org", inner: q(""), direct: xmpp.ServiceUnavailable, wantPassword: "R0m30"},
		{name: "remove with other children", typ: "set", inner: q("<remove/><password>R0m30</password>"), routed: "bad-request", wantPassword: "R0m30"},
		{name: "remove", typ: "set", inner: q("<remove/>"), routed: "result", wantClosed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := moduletest.NewHost(t, "example.org")
			h.AddAccount("juliet@example.org", "R0m30")
			h.AddAccount("romeo@example.org", "0rch4rd")
			h.Provision(new(Module)) // registration is closed: none of this needs it open
			balcony := h.Bind(juliet)
			chamber := h.Bind("juliet@example.org/chamber")
			orchard := h.Bind("romeo@example.org/orchard")

			got, err := h.IQ(iq(tc.typ, juliet, tc.to, tc.inner))
			routed := h.Routed()
			if tc.routed != "" {
				if !errors.Is(err, modules.ErrNoReply) {
					t.Fatalf("error = %v, want ErrNoReply and a routed reply", err)
				}
				if len(routed) != 1 {
					t.Fatalf("routed %d stanzas, want 1", len(routed))
				}
				r := routed[0]
				if r.To.String() != juliet || r.ID != "r1" {
					t.Errorf("reply %s not addressed to the request", r)
				}
				if tc.routed == "result" {
					if r.Type != "result" || len(r.Inner) != 0 {
						t.Errorf("reply %s, want an empty result", r)
					}
				} else if r.Type != "error" || !strings.Contains(string(r.Inner), "<"+tc.routed+" ") || strings.Contains(string(r.Inner), "<query") {
					t.Errorf("reply %s, want a %s error without the request", r, tc.routed)
				}
			} else {
				if c := condition(err); c != tc.direct || (err != nil && c == "") {
					t.Fatalf("error = %v, want condition %q", err, tc.direct)
				}
				if len(routed) != 0 {
					t.Errorf("routed %v, want nothing", routed)
				}
			}
			if string(got) != tc.want {
				t.Errorf("result = %s, want %s", got, tc.want)
			}
			pw, ok := h.Password("juliet@example.org")
			if tc.wantPassword == "" && ok {
				t.Error("account still exists")
			} else if tc.wantPassword != "" && pw != tc.wantPassword {
				t.Errorf("password %q (exists %v), want %q", pw, ok, tc.wantPassword)
			}
			for _, s := range []*moduletest.Session{balcony, chamber} {
				if c := s.Closed(); (c != nil) != tc.wantClosed || (c != nil && c.Condition != xmpp.StreamNotAuthorized) {
					t.Errorf("%s closed with %v, want closed %v with not-authorized", s.JID(), c, tc.wantClosed)
				}
			}
			if orchard.Closed() != nil {
				t.Error("another user's session was closed")
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: defaultConfig()},
		{name: "no cap", cfg: Config{MaxPerAddress: 0}},
		{name: "negative cap", cfg: Config{MaxPerAddress: -1, Window: time.Hour}, wantErr: true},
		{name: "cap without window", cfg: Config{MaxPerAddress: 3}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.validate(); (err != nil) != tc.wantErr {
				t.Errorf("validate = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
