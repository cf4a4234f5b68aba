package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// TestSCRAMVectors replays the exchanges of RFC 5802 §5 (SCRAM-SHA-1) and
// RFC 7677 §3 (SCRAM-SHA-256) for user "user" with password "pencil".
func TestSCRAMVectors(t *testing.T) {
	tests := []struct {
		name        string
		mech        string
		h           scramHash
		salt        string
		serverNonce string
		clientFirst string
		serverFirst string
		clientFinal string
		serverFinal string
	}{
		{
			name: "rfc 5802", mech: "SCRAM-SHA-1", h: hashSHA1,
			salt:        "QSXCR+Q6sek8bf92",
			serverNonce: "3rfcNHYJY1ZVvWVs7j",
			clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			name: "rfc 7677", mech: "SCRAM-SHA-256", h: hashSHA256,
			salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
			serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := newTestStore(t, StoreOptions{})
			salt, _ := base64.StdEncoding.DecodeString(tc.salt)
			putVerifiers(t, s, "user@localhost", "pencil", salt, 4096)

			m := Mechanisms(s, nil)[map[string]int{"SCRAM-SHA-256": 0, "SCRAM-SHA-1": 1}[tc.mech]]
			srv := m.NewServer(testDomain, false).(*scramServer)
			srv.fixedNonce = []byte(tc.serverNonce)
			out, done, _, err := srv.Step(ctx, []byte(tc.clientFirst))
			if err != nil || done || string(out) != tc.serverFirst {
				t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, tc.serverFirst)
			}
			out, done, user, err := srv.Step(ctx, []byte(tc.clientFinal))
			if err != nil || !done || string(out) != tc.serverFinal || user.String() != "user@localhost" {
				t.Fatalf("server-final = %q, %v, %v, %v; want %q", out, done, user, err, tc.serverFinal)
			}
		})
	}
}

// putVerifiers stores verifiers with a chosen salt.
func putVerifiers(t testing.TB, s *Store, user, password string, salt []byte, iter int) {
	t.Helper()
	v := Verifiers{Version: VerifiersVersion, Salt: salt, Iterations: iter}
	var err error
	if v.SHA1, err = deriveKeys(hashSHA1, password, salt, iter); err != nil {
		t.Fatal(err)
	}
	if v.SHA256, err = deriveKeys(hashSHA256, password, salt, iter); err != nil {
		t.Fatal(err)
	}
	rec, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Put(context.Background(), s.be, accountKey(xmpp.MustParseJID(user)), rec); err != nil {
		t.Fatal(err)
	}
}

// clientFinal computes a client-final-message as RFC 5802 §3 describes,
// independently of the server code: withoutProof is the message up to the
// proof, bare the client-first-message-bare.
func clientFinal(t testing.TB, h scramHash, password, bare, serverFirst, withoutProof string) string {
	t.Helper()
	var salt []byte
	iter := 0
	for _, a := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(a, "s="):
			salt, _ = base64.StdEncoding.DecodeString(a[2:])
		case strings.HasPrefix(a, "i="):
			iter, _ = strconv.Atoi(a[2:])
		}
	}
	sp, err := pbkdf2.Key(h.new, password, salt, iter, h.size)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h.new, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(sp, "Client Key")
	d := h.new()
	d.Write(clientKey)
	sig := mac(d.Sum(nil), bare+","+serverFirst+","+withoutProof)
	subtle.XORBytes(sig, sig, clientKey)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(sig)
}

func TestSCRAMMessages(t *testing.T) {
	const cnonce = "cl1ent-n0nce"
	b64 := base64.StdEncoding.EncodeToString
	// final builders take the server-first-message and the
	// client-first-message-bare.
	good := func(gs2 string) func(t *testing.T, sf, bare string) string {
		return func(t *testing.T, sf, bare string) string {
			nonce := strings.TrimPrefix(strings.Split(sf, ",")[0], "r=")
			return clientFinal(t, hashSHA256, "pencil", bare, sf, "c="+b64([]byte(gs2))+",r="+nonce)
		}
	}
	tests := []struct {
		name     string
		first    string
		final    func(t *testing.T, sf, bare string) string // nil: first must fail
		wantCond string
		wantUser string
		wantText string
	}{
		{name: "valid", first: "n,,n=alice,r=" + cnonce, final: good("n,,"), wantUser: "alice@localhost"},
		{name: "y flag", first: "y,,n=alice,r=" + cnonce, final: good("y,,"), wantUser: "alice@localhost"},
		{name: "authzid of self", first: "n,a=alice@localhost,n=alice,r=" + cnonce, final: good("n,a=alice@localhost,"), wantUser: "alice@localhost"},
		{name: "escaped username", first: "n,,n=a=2Cb=3Dc,r=" + cnonce, wantUser: "a,b=c@localhost",
			final: func(t *testing.T, sf, bare string) string {
				nonce := strings.TrimPrefix(strings.Split(sf, ",")[0], "r=")
				return clientFinal(t, hashSHA256, "x=y,z", bare, sf, "c=biws,r="+nonce)
			}},
		{name: "extension in first message ignored", first: "n,,n=alice,r=" + cnonce + ",x=ext", final: good("n,,"), wantUser: "alice@localhost"},
		{name: "extension in final message ignored", first: "n,,n=alice,r=" + cnonce, wantUser: "alice@localhost",
			final: func(t *testing.T, sf, bare string) string {
				nonce := strings.TrimPrefix(strings.Split(sf, ",")[0], "r=")
				return clientFinal(t, hashSHA256, "pencil", bare, sf, "c=biws,r="+nonce+",x=ext")
			}},

		{name: "channel binding requested", first: "p=tls-exporter,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest, wantText: "channel binding is not supported"},
		{name: "channel binding flag alone", first: "p,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "unknown flag", first: "x,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "no gs2 header", first: "n=alice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "gs2 header only", first: "n,,", wantCond: CondMalformedRequest},
		{name: "unterminated gs2 header", first: "n,a=alice@localhost", wantCond: CondMalformedRequest},
		{name: "authzid without a=", first: "n,alice@localhost,n=alice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "authzid of another user", first: "n,a=jürgen@localhost,n=alice,r=" + cnonce, wantCond: CondInvalidAuthzid},
		{name: "mandatory extension", first: "n,,m=ext,n=alice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "mandatory extension after nonce", first: "n,,n=alice,r=" + cnonce + ",m=ext", wantCond: CondMalformedRequest},
		{name: "bad extension syntax", first: "n,,n=alice,r=" + cnonce + ",ext", wantCond: CondMalformedRequest},
		{name: "missing nonce", first: "n,,n=alice", wantCond: CondMalformedRequest},
		{name: "empty nonce", first: "n,,n=alice,r=", wantCond: CondMalformedRequest},
		{name: "nonce with a space", first: "n,,n=alice,r=a b", wantCond: CondMalformedRequest},
		{name: "attributes out of order", first: "n,,r=" + cnonce + ",n=alice", wantCond: CondMalformedRequest},
		{name: "empty username", first: "n,,n=,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "bare = in username", first: "n,,n=al=ice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "truncated escape", first: "n,,n=alice=2,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "lower-case escape", first: "n,,n=a=2cb,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "nul in username", first: "n,,n=al\x00ice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "invalid utf-8", first: "n,,n=al\xffice,r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "too long", first: "n,,n=" + strings.Repeat("a", maxMessage) + ",r=" + cnonce, wantCond: CondMalformedRequest},
		{name: "invalid username", first: "n,,n=a b,r=" + cnonce, wantCond: CondNotAuthorized},

		{name: "c= of another header", first: "n,,n=alice,r=" + cnonce, final: good("y,,"), wantCond: CondNotAuthorized},
		{name: "c= without authzid", first: "n,a=alice@localhost,n=alice,r=" + cnonce, final: good("n,,"), wantCond: CondNotAuthorized},
		{name: "c= not base64", first: "n,,n=alice,r=" + cnonce, wantCond: CondIncorrectEncoding,
			final: func(t *testing.T, sf, bare string) string { return "c=!!,r=x,p=" + b64(make([]byte, 32)) }},
		{name: "client nonce only", first: "n,,n=alice,r=" + cnonce, wantCond: CondNotAuthorized,
			final: func(t *testing.T, sf, bare string) string {
				return clientFinal(t, hashSHA256, "pencil", bare, sf, "c=biws,r="+cnonce)
			}},
		{name: "proof not base64", first: "n,,n=alice,r=" + cnonce, wantCond: CondIncorrectEncoding,
			final: func(t *testing.T, sf, bare string) string { return "c=biws,r=x,p=!!" }},
		{name: "short proof", first: "n,,n=alice,r=" + cnonce, wantCond: CondNotAuthorized,
			final: func(t *testing.T, sf, bare string) string {
				f := good("n,,")(t, sf, bare)
				i := strings.LastIndex(f, ",p=")
				return f[:i] + ",p=" + b64(make([]byte, 20))
			}},
		{name: "wrong proof", first: "n,,n=alice,r=" + cnonce, wantCond: CondNotAuthorized,
			final: func(t *testing.T, sf, bare string) string {
				nonce := strings.TrimPrefix(strings.Split(sf, ",")[0], "r=")
				return clientFinal(t, hashSHA256, "pencil!", bare, sf, "c=biws,r="+nonce)
			}},
		{name: "proof not last", first: "n,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest,
			final: func(t *testing.T, sf, bare string) string {
				return good("n,,")(t, sf, bare) + ",x=ext"
			}},
		{name: "mandatory extension in final", first: "n,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest,
			final: func(t *testing.T, sf, bare string) string {
				nonce := strings.TrimPrefix(strings.Split(sf, ",")[0], "r=")
				return clientFinal(t, hashSHA256, "pencil", bare, sf, "c=biws,r="+nonce+",m=ext")
			}},
		{name: "missing c=", first: "n,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest,
			final: func(t *testing.T, sf, bare string) string {
				f := good("n,,")(t, sf, bare)
				return f[strings.Index(f, ",")+1:]
			}},
		{name: "empty final", first: "n,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest,
			final: func(t *testing.T, sf, bare string) string { return "" }},
		{name: "final too long", first: "n,,n=alice,r=" + cnonce, wantCond: CondMalformedRequest,
			final: func(t *testing.T, sf, bare string) string {
				return "c=biws,r=x,x=" + strings.Repeat("a", maxMessage) + ",p=" + b64(make([]byte, 32))
			}},
	}
	_, _, ms := newTestMechanisms(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := ms["SCRAM-SHA-256"].NewServer(testDomain, true)
			sf, done, _, err := srv.Step(ctx, []byte(tc.first))
			if tc.final == nil {
				if cond := condition(t, err); cond != tc.wantCond || done {
					t.Fatalf("first: condition %q (%v), want %q", cond, err, tc.wantCond)
				}
				if tc.wantText != "" && err.(*Failure).Text != tc.wantText {
					t.Fatalf("text %q, want %q", err.(*Failure).Text, tc.wantText)
				}
				return
			}
			if err != nil || done {
				t.Fatalf("first: %q, %v, %v", sf, done, err)
			}
			bare := tc.first[strings.Index(tc.first[2:], ",")+3:]
			out, done, user, err := srv.Step(ctx, []byte(tc.final(t, string(sf), bare)))
			if cond := condition(t, err); cond != tc.wantCond {
				t.Fatalf("final: condition %q (%v), want %q", cond, err, tc.wantCond)
			}
			if tc.wantCond == "" && (!done || user.String() != tc.wantUser || !strings.HasPrefix(string(out), "v=")) {
				t.Fatalf("final = %q, %v, %v; want success for %s", out, done, user, tc.wantUser)
			}
		})
	}
}

// TestSCRAMServerFirst checks the server's first message: a fresh nonce
// of at least 18 random bytes after the client's, the stored salt and
// iteration count.
func TestSCRAMServerFirst(t *testing.T) {
	ctx := context.Background()
	s, _, ms := newTestMechanisms(t, nil)
	v, err := s.Lookup(ctx, xmpp.MustParseJID("alice@localhost"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		sf, _, _, err := ms["SCRAM-SHA-1"].NewServer(testDomain, true).Step(ctx, []byte("n,,n=alice,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		attrs := strings.Split(string(sf), ",")
		if len(attrs) != 3 || !strings.HasPrefix(attrs[0], "r=abc") {
			t.Fatalf("server-first %q", sf)
		}
		snonce, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(attrs[0], "r=abc"))
		if err != nil || len(snonce) < 18 {
			t.Fatalf("server nonce %q: %d bytes, %v", attrs[0], len(snonce), err)
		}
		if seen[attrs[0]] {
			t.Fatalf("nonce %q repeated", attrs[0])
		}
		seen[attrs[0]] = true
		if want := "s=" + base64.StdEncoding.EncodeToString(v.Salt); attrs[1] != want {
			t.Fatalf("salt %q, want %q", attrs[1], want)
		}
		if attrs[2] != "i=4096" {
			t.Fatalf("iterations %q", attrs[2])
		}
	}
}

// TestUnknownUserLooksLikeWrongPassword: an unknown user gets a salt that
// is stable (across attempts and store instances sharing a backend) and
// shaped like a real one, and the same failure as a wrong password.
func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	ctx := context.Background()
	s, _, ms := newTestMechanisms(t, nil)
	serverFirst := func(ms map[string]Mechanism, user string) []string {
		t.Helper()
		sf, _, _, err := ms["SCRAM-SHA-256"].NewServer(testDomain, true).Step(ctx, []byte("n,,n="+user+",r=abc"))
		if err != nil {
			t.Fatalf("first message for %s: %v", user, err)
		}
		return strings.Split(string(sf), ",")
	}
	real, fake := serverFirst(ms, "alice"), serverFirst(ms, "mallory")
	if len(real[1]) != len(fake[1]) || real[2] != fake[2] {
		t.Fatalf("unknown user's salt and count %q, %q differ in shape from %q, %q", fake[1], fake[2], real[1], real[2])
	}
	if again := serverFirst(ms, "Mallory"); again[1] != fake[1] {
		t.Fatalf("unknown user's salt changed: %q then %q", fake[1], again[1])
	}
	if other := serverFirst(ms, "eve"); other[1] == fake[1] {
		t.Fatal("two unknown users got the same salt")
	}
	// Another store over the same backend: another node, or a restart.
	s2, err := NewStore(s.be, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ms2 := map[string]Mechanism{}
	for _, m := range Mechanisms(s2, nil) {
		ms2[m.Name()] = m
	}
	if restarted := serverFirst(ms2, "mallory"); restarted[1] != fake[1] {
		t.Fatalf("unknown user's salt changed across stores: %q then %q", fake[1], restarted[1])
	}

	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			_, errWrong := exchange(ctx, ms[mech].NewServer(testDomain, true), clientFor(mech, "alice", "wrong", ""))
			_, errUnknown := exchange(ctx, ms[mech].NewServer(testDomain, true), clientFor(mech, "mallory", "wrong", ""))
			if errWrong == nil || errUnknown == nil || errWrong.Error() != errUnknown.Error() {
				t.Fatalf("wrong password: %v; unknown user: %v", errWrong, errUnknown)
			}
		})
	}
}
