package auth

import (
	"encoding/base64"
	"testing"
)

// BenchmarkSCRAMSHA256Login measures the server side of one SCRAM-SHA-256
// login (both steps, limiter included); the client's messages are computed
// once, against a fixed server nonce.
func BenchmarkSCRAMSHA256Login(b *testing.B) {
	lim := NewLimiter(DefaultIPRate, DefaultAccountRate)
	s, _ := newTestStore(b, StoreOptions{})
	mustCreate(b, s, map[string]string{"alice@localhost": "pencil"})
	m := Mechanisms(s, lim)[0]
	ctx := fromIP("192.0.2.1")
	snonce := []byte(base64.StdEncoding.EncodeToString(make([]byte, serverNonceLen)))
	const first = "n,,n=alice,r=cl1ent-n0nce"

	srv := m.NewServer(testDomain, true).(*scramServer)
	srv.fixedNonce = snonce
	sf, _, _, err := srv.Step(ctx, []byte(first))
	if err != nil {
		b.Fatal(err)
	}
	final := []byte(clientFinal(b, hashSHA256, "pencil", first[3:], string(sf), "c=biws,r=cl1ent-n0nce"+string(snonce)))

	b.ReportAllocs()
	for b.Loop() {
		srv := m.NewServer(testDomain, true).(*scramServer)
		srv.fixedNonce = snonce
		if _, _, _, err := srv.Step(ctx, []byte(first)); err != nil {
			b.Fatal(err)
		}
		if _, done, _, err := srv.Step(ctx, final); err != nil || !done {
			b.Fatal(done, err)
		}
	}
}

// BenchmarkPLAINLogin measures one PLAIN login: PBKDF2-SHA-256 with 4096
// iterations dominates.
func BenchmarkPLAINLogin(b *testing.B) {
	lim := NewLimiter(DefaultIPRate, DefaultAccountRate)
	s, _ := newTestStore(b, StoreOptions{})
	mustCreate(b, s, map[string]string{"alice@localhost": "pencil"})
	m := Mechanisms(s, lim)[2]
	ctx := fromIP("192.0.2.1")
	msg := []byte("\x00alice\x00pencil")

	b.ReportAllocs()
	for b.Loop() {
		if _, done, _, err := m.NewServer(testDomain, true).Step(ctx, msg); err != nil || !done {
			b.Fatal(done, err)
		}
	}
}

// BenchmarkNewVerifiers measures account creation's key derivation (PBKDF2
// for SHA-1 and SHA-256).
func BenchmarkNewVerifiers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewVerifiers("pencil", 0); err != nil {
			b.Fatal(err)
		}
	}
}
