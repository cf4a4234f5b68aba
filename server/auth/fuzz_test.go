package auth

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

var knownConditions = []string{
	CondAborted, CondAccountDisabled, CondCredentialsExpired, CondEncryptionRequired,
	CondIncorrectEncoding, CondInvalidAuthzid, CondInvalidMechanism, CondMalformedRequest,
	CondMechanismTooWeak, CondNotAuthorized, CondTemporaryAuthFailure,
}

// FuzzSCRAM feeds arbitrary client-first and client-final messages to the
// SCRAM-SHA-256 and SCRAM-SHA-1 servers, and the first as a PLAIN message.
// No input may panic, every error must be a *Failure with an RFC 6120
// condition, and no input without the password may authenticate.
func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("y,a=alice@localhost,n=alice,r=abc,x=1"), []byte("c=eSxhPWFsaWNlQGxvY2FsaG9zdCw=,r=abc,x=2,p=AAAA"))
	f.Add([]byte("p=tls-exporter,,n=alice,r=abc"), []byte(""))
	f.Add([]byte("n,,n=a=2Cb=3Dc,r=abc"), []byte("c=biws,r=,p="))
	f.Add([]byte("n,,m=x,n=mallory,r=abc"), []byte("c=,p=,r="))
	f.Add([]byte("n,,n=al=ice,r=a"), []byte(",,,"))
	f.Add([]byte("\x00alice\x00pencil"), []byte(nil))
	f.Add([]byte("alice@localhost\x00alice\x00x"), []byte(nil))

	s, _ := newTestStore(f, StoreOptions{})
	mustCreate(f, s, map[string]string{"alice@localhost": "pencil"})
	mechs := Mechanisms(s, NewLimiter(Rate{}, Rate{}))
	check := func(t *testing.T, step string, done bool, err error) {
		if done {
			t.Fatalf("%s authenticated", step)
		}
		var fl *Failure
		if err != nil && (!errors.As(err, &fl) || !slices.Contains(knownConditions, fl.Condition)) {
			t.Fatalf("%s: error %v is not a known failure", step, err)
		}
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		ctx := context.Background()
		for _, m := range mechs[:2] {
			srv := m.NewServer(testDomain, true)
			_, done, _, err := srv.Step(ctx, first)
			check(t, m.Name()+" first", done, err)
			if err != nil {
				continue
			}
			_, done, _, err = srv.Step(ctx, final)
			check(t, m.Name()+" final", done, err)
		}
		// PLAIN runs PBKDF2 for a well-formed message: only short inputs,
		// to keep the fuzzer fast, and never with the right password.
		if len(first) < 64 && !bytes.Contains(first, []byte("pencil")) {
			_, done, _, err := mechs[2].NewServer(testDomain, true).Step(ctx, first)
			check(t, "PLAIN", done, err)
		}
	})
}
