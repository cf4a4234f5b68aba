package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"mellium.im/sasl"

	"github.com/parley-im/parley/xmpp"
)

const testDomain = "localhost"

// testUsers are created, with these passwords, by newTestMechanisms.
var testUsers = map[string]string{
	"alice@localhost":  "pencil",
	"jürgen@localhost": "pässwörd ✓", // precomposed (NFC)
	"a,b=c@localhost":  "x=y,z",
}

func newTestMechanisms(t testing.TB, lim *Limiter) (*Store, *countingBackend, map[string]Mechanism) {
	t.Helper()
	s, be := newTestStore(t, StoreOptions{})
	mustCreate(t, s, testUsers)
	ms := map[string]Mechanism{}
	for _, m := range Mechanisms(s, lim) {
		ms[m.Name()] = m
	}
	return s, be, ms
}

var clientMechs = map[string]sasl.Mechanism{
	"SCRAM-SHA-256": sasl.ScramSha256,
	"SCRAM-SHA-1":   sasl.ScramSha1,
	"PLAIN":         sasl.Plain,
}

// exchange runs a mellium.im/sasl client against a server session until
// one of them ends it. For SCRAM the client checks the server's signature.
func exchange(ctx context.Context, srv ServerSession, c *sasl.Negotiator) (xmpp.JID, error) {
	more, resp, err := c.Step(nil)
	if err != nil {
		return xmpp.JID{}, fmt.Errorf("client start: %w", err)
	}
	for range 4 {
		out, done, user, err := srv.Step(ctx, resp)
		if err != nil {
			return xmpp.JID{}, err
		}
		if done {
			if more {
				if _, _, err := c.Step(out); err != nil {
					return xmpp.JID{}, fmt.Errorf("client rejected the server's final message: %w", err)
				}
			}
			return user, nil
		}
		if more, resp, err = c.Step(out); err != nil {
			return xmpp.JID{}, fmt.Errorf("client step: %w", err)
		}
	}
	return xmpp.JID{}, errors.New("exchange did not end")
}

// condition returns the SASL condition of err ("" for nil), failing the
// test for an error that is not a *Failure.
func condition(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v is not a *Failure", err)
	}
	return f.Condition
}

func clientFor(mech, user, password, authzid string) *sasl.Negotiator {
	return sasl.NewClient(clientMechs[mech], sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), []byte(authzid)
	}))
}

func TestLogin(t *testing.T) {
	all := []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	scram := []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}
	tests := []struct {
		name      string
		mechs     []string // nil: all
		user      string
		password  string
		authzid   string
		plaintext bool // the stream is not encrypted
		// rawPassword makes the SCRAM client use the password as given;
		// by default it normalises it, as RFC 5802 §2.2 requires of
		// clients (mellium.im/sasl leaves that to its caller).
		rawPassword bool
		wantUser    string
		wantCond    string
	}{
		{name: "ascii", user: "alice", password: "pencil", wantUser: "alice@localhost"},
		{name: "username in upper case", user: "ALICE", password: "pencil", wantUser: "alice@localhost"},
		{name: "username as bare jid", user: "alice@localhost", password: "pencil", wantUser: "alice@localhost"},
		{name: "bare jid of another domain", user: "alice@example.org", password: "pencil", wantCond: CondNotAuthorized},
		{name: "non-ascii password", user: "jürgen", password: "pässwörd ✓", wantUser: "jürgen@localhost"},
		{name: "non-ascii username in upper case", user: "JÜRGEN", password: "pässwörd ✓", wantUser: "jürgen@localhost"},
		{name: "decomposed username", user: "ju\u0308rgen", password: "pässwörd ✓", wantUser: "jürgen@localhost"},
		{name: "decomposed password", user: "jürgen", password: "pa\u0308sswo\u0308rd ✓", wantUser: "jürgen@localhost"},
		{
			// The server cannot repair a SCRAM proof made from an
			// unnormalised password: that is the client's job.
			name: "decomposed password not normalised by the client", mechs: scram,
			user: "jürgen", password: "pa\u0308sswo\u0308rd ✓", rawPassword: true, wantCond: CondNotAuthorized,
		},
		{name: "comma and equals in username and password", user: "a,b=c", password: "x=y,z", wantUser: "a,b=c@localhost"},
		{name: "wrong password", user: "alice", password: "pen", wantCond: CondNotAuthorized},
		{name: "password in wrong case", user: "alice", password: "PENCIL", wantCond: CondNotAuthorized},
		{name: "unknown user", user: "mallory", password: "pencil", wantCond: CondNotAuthorized},
		{name: "invalid username", user: "a b", password: "pencil", wantCond: CondNotAuthorized},
		{name: "authzid of self", user: "alice", password: "pencil", authzid: "alice@localhost", wantUser: "alice@localhost"},
		{name: "authzid of self in upper case", user: "alice", password: "pencil", authzid: "Alice@LocalHost", wantUser: "alice@localhost"},
		{name: "authzid of another user", user: "alice", password: "pencil", authzid: "jürgen@localhost", wantCond: CondInvalidAuthzid},
		{name: "authzid with a resource", user: "alice", password: "pencil", authzid: "alice@localhost/phone", wantCond: CondInvalidAuthzid},
		{name: "authzid as localpart", user: "alice", password: "pencil", authzid: "alice", wantCond: CondInvalidAuthzid},
		{name: "scram on a plaintext stream", mechs: scram, user: "alice", password: "pencil", plaintext: true, wantUser: "alice@localhost"},
		{name: "plain on a plaintext stream", mechs: []string{"PLAIN"}, user: "alice", password: "pencil", plaintext: true, wantCond: CondEncryptionRequired},
	}
	_, _, ms := newTestMechanisms(t, nil)
	for _, tc := range tests {
		mechs := tc.mechs
		if mechs == nil {
			mechs = all
		}
		for _, mech := range mechs {
			t.Run(tc.name+"/"+mech, func(t *testing.T) {
				password := tc.password
				if mech != "PLAIN" && !tc.rawPassword {
					p, err := NormalizePassword(password)
					if err != nil {
						t.Fatal(err)
					}
					password = p
				}
				srv := ms[mech].NewServer(testDomain, !tc.plaintext)
				user, err := exchange(context.Background(), srv, clientFor(mech, tc.user, password, tc.authzid))
				if got := condition(t, err); got != tc.wantCond {
					t.Fatalf("condition %q (%v), want %q", got, err, tc.wantCond)
				}
				if tc.wantCond == "" && user.String() != tc.wantUser {
					t.Fatalf("authenticated %q, want %q", user, tc.wantUser)
				}
				// A finished exchange takes no more steps.
				if _, _, _, err := srv.Step(context.Background(), []byte("n,,n=alice,r=abc")); condition(t, err) != CondMalformedRequest {
					t.Fatalf("step after the end: %v", err)
				}
			})
		}
	}
}

func TestMechanismsOrder(t *testing.T) {
	s, _ := newTestStore(t, StoreOptions{})
	var names []string
	for _, m := range Mechanisms(s, nil) {
		names = append(names, m.Name())
	}
	if fmt.Sprint(names) != "[SCRAM-SHA-256 SCRAM-SHA-1 PLAIN]" {
		t.Fatalf("Mechanisms = %v", names)
	}
}

// TestNoInitialResponse: without an initial response the server sends an
// empty challenge and takes the first message as the response (RFC 6120
// §6.4.2).
func TestNoInitialResponse(t *testing.T) {
	_, _, ms := newTestMechanisms(t, nil)
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			ctx := context.Background()
			srv := ms[mech].NewServer(testDomain, true)
			out, done, _, err := srv.Step(ctx, nil)
			if err != nil || done || out == nil || len(out) != 0 {
				t.Fatalf("first step = %q, %v, %v; want an empty challenge", out, done, err)
			}
			user, err := exchange(ctx, srv, clientFor(mech, "alice", "pencil", ""))
			if err != nil || user.String() != "alice@localhost" {
				t.Fatalf("exchange = %v, %v", user, err)
			}
			// A second empty message is malformed.
			srv = ms[mech].NewServer(testDomain, true)
			srv.Step(ctx, nil)
			if _, _, _, err := srv.Step(ctx, nil); condition(t, err) != CondMalformedRequest {
				t.Fatalf("second empty message: %v", err)
			}
		})
	}
}

func TestBadStreamDomain(t *testing.T) {
	_, _, ms := newTestMechanisms(t, nil)
	srv := ms["SCRAM-SHA-256"].NewServer("not a domain", true)
	_, _, _, err := srv.Step(context.Background(), []byte("n,,n=alice,r=abc"))
	var f *Failure
	if !errors.As(err, &f) || f.Condition != CondTemporaryAuthFailure || f.Err == nil {
		t.Fatalf("Step = %v, want temporary-auth-failure with a cause", err)
	}
}
