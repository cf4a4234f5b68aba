package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"unicode/utf8"

	"github.com/parley-im/parley/xmpp"
)

// plainMechanism is PLAIN (RFC 4616), checked against the SHA-256
// verifiers: the password is salted and hashed as SCRAM would, and the
// resulting StoredKey compared.
type plainMechanism struct {
	store *Store
	lim   *Limiter
}

func (m *plainMechanism) Name() string { return "PLAIN" }

func (m *plainMechanism) NewServer(domain string, tls bool) ServerSession {
	return &plainServer{m: m, domain: domain, tls: tls}
}

type plainServer struct {
	m      *plainMechanism
	domain string
	tls    bool
	state  int // stepStart, stepWaitFirst or stepDone
}

func (s *plainServer) Step(ctx context.Context, in []byte) (out []byte, done bool, user xmpp.JID, err error) {
	switch {
	case s.state == stepDone:
		return nil, false, xmpp.JID{}, fail(CondMalformedRequest, "exchange is over")
	case !s.tls:
		// RFC 6120 §6.5.3: the password would cross the network in clear.
		s.state = stepDone
		return nil, false, xmpp.JID{}, fail(CondEncryptionRequired, "")
	case s.state == stepStart && len(in) == 0:
		s.state = stepWaitFirst
		return []byte{}, false, xmpp.JID{}, nil
	}
	s.state = stepDone
	u, f := s.verify(ctx, in)
	if f != nil {
		return nil, false, xmpp.JID{}, f
	}
	return nil, true, u, nil
}

// verify checks message = [authzid] NUL authcid NUL passwd (RFC 4616 §2).
func (s *plainServer) verify(ctx context.Context, in []byte) (xmpp.JID, *Failure) {
	if len(in) == 0 || len(in) > maxMessage || !utf8.Valid(in) {
		return xmpp.JID{}, fail(CondMalformedRequest, "")
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return xmpp.JID{}, fail(CondMalformedRequest, "")
	}
	domain, f := streamDomain(s.domain)
	if f != nil {
		return xmpp.JID{}, f
	}
	u, f := saslUser(string(parts[1]), domain)
	if f != nil {
		return xmpp.JID{}, f
	}
	if f := checkAuthzid(string(parts[0]), u); f != nil {
		return xmpp.JID{}, f
	}
	// A password that does not normalise matches no stored one; saying so
	// tells nothing about the account.
	password, err := NormalizePassword(string(parts[2]))
	if err != nil {
		return xmpp.JID{}, fail(CondNotAuthorized, "")
	}
	// The limit comes before the storage read and PBKDF2.
	att, ok := s.m.lim.begin(ctx, u.String())
	if !ok {
		return xmpp.JID{}, limited()
	}
	// Unknown users pay for PBKDF2 too, with a fake salt and the
	// configured iteration count, so timing does not tell them apart.
	v, known, f := lookup(ctx, s.m.store, u)
	if f != nil {
		return xmpp.JID{}, f
	}
	sp, err := saltedPassword(hashSHA256, password, v.Salt, v.Iterations)
	if err != nil {
		return xmpp.JID{}, &Failure{Condition: CondTemporaryAuthFailure, Err: err}
	}
	sk := storedKey(hashSHA256, sp)
	clear(sp)
	if subtle.ConstantTimeCompare(sk, v.SHA256.StoredKey) != 1 || !known {
		return xmpp.JID{}, fail(CondNotAuthorized, "")
	}
	att.succeeded()
	return u, nil
}
