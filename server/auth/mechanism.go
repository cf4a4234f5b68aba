package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/xmpp"
)

// SASL failure conditions (RFC 6120 §6.5), the children of <failure/>.
const (
	CondAborted              = "aborted"
	CondAccountDisabled      = "account-disabled"
	CondCredentialsExpired   = "credentials-expired"
	CondEncryptionRequired   = "encryption-required"
	CondIncorrectEncoding    = "incorrect-encoding"
	CondInvalidAuthzid       = "invalid-authzid"
	CondInvalidMechanism     = "invalid-mechanism"
	CondMalformedRequest     = "malformed-request"
	CondMechanismTooWeak     = "mechanism-too-weak"
	CondNotAuthorized        = "not-authorized"
	CondTemporaryAuthFailure = "temporary-auth-failure"
)

// Failure is how a ServerSession fails: the stream code answers with
// <failure/> holding Condition and, if not empty, Text. Err is the cause of
// a temporary-auth-failure for the server's log; it is never sent.
type Failure struct {
	Condition string
	Text      string
	Err       error
}

func (f *Failure) Error() string {
	s := "auth: sasl failure: " + f.Condition
	if f.Text != "" {
		s += ": " + f.Text
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

func fail(cond, text string) *Failure { return &Failure{Condition: cond, Text: text} }

// Mechanism is a SASL mechanism as the server offers it.
type Mechanism interface {
	// Name is the mechanism's registered name, e.g. "SCRAM-SHA-256".
	Name() string
	// NewServer starts an exchange on a stream to domain (a local domain,
	// normalised); tls says whether the stream is encrypted.
	NewServer(domain string, tls bool) ServerSession
}

// ServerSession is the server side of one SASL exchange. It is used by one
// goroutine at a time and is finished after it returns done or an error.
type ServerSession interface {
	// Step takes the client's message (initial response or response;
	// nil/empty when none) and returns the server's next challenge, or
	// done=true with the success data (additional data for <success/>,
	// e.g. SCRAM's server-final message) and the authenticated bare JID.
	// Errors are *Failure.
	Step(ctx context.Context, in []byte) (out []byte, done bool, user xmpp.JID, err error)
}

// Mechanisms returns the mechanisms backed by store, most preferred first:
// SCRAM-SHA-256, SCRAM-SHA-1, PLAIN. The caller offers PLAIN on encrypted
// streams only (PLAIN refuses to run on others). lim may be nil (no limits).
func Mechanisms(store *Store, lim *Limiter) []Mechanism {
	return []Mechanism{
		&scramMechanism{name: "SCRAM-SHA-256", h: hashSHA256, store: store, lim: lim},
		&scramMechanism{name: "SCRAM-SHA-1", h: hashSHA1, store: store, lim: lim},
		&plainMechanism{store: store, lim: lim},
	}
}

// Steps of an exchange on the server.
const (
	stepStart     = iota // nothing received
	stepWaitFirst        // empty challenge sent, the first message expected
	stepWaitFinal        // SCRAM: server-first-message sent
	stepDone             // succeeded or failed: no more steps
)

// maxMessage bounds any message a client sends in an exchange: a username
// of 1023 bytes, escaped, fits with room to spare.
const maxMessage = 4096

// saslUser resolves the username a client authenticates as: a localpart of
// the stream's domain, or a bare JID of that domain. The error is safe to
// send: it depends on the string alone, never on whether the account
// exists.
func saslUser(name, domain string) (xmpp.JID, *Failure) {
	for i := 0; i < len(name); i++ {
		if name[i] == '@' {
			j, err := xmpp.ParseJID(name)
			if err != nil || j.Local() == "" || !j.IsBare() || j.Domain() != domain {
				return xmpp.JID{}, fail(CondNotAuthorized, "")
			}
			return j, nil
		}
	}
	j, err := userJID(name, domain)
	if err != nil {
		return xmpp.JID{}, fail(CondNotAuthorized, "")
	}
	return j, nil
}

// checkAuthzid accepts an empty authorization identity or the user's own
// bare JID: nobody may act for another user.
func checkAuthzid(authzid string, user xmpp.JID) *Failure {
	if authzid == "" {
		return nil
	}
	j, err := xmpp.ParseJID(authzid)
	if err != nil || j != user {
		return fail(CondInvalidAuthzid, "")
	}
	return nil
}

// lookup returns the verifiers of user, or fake ones (and known=false) for
// a user that does not exist.
func lookup(ctx context.Context, store *Store, user xmpp.JID) (v Verifiers, known bool, f *Failure) {
	v, err := store.Lookup(ctx, user)
	if err == nil {
		return v, true, nil
	}
	if !errors.Is(err, ErrNoAccount) {
		return Verifiers{}, false, &Failure{Condition: CondTemporaryAuthFailure, Err: err}
	}
	v, err = store.fakeVerifiers(ctx, user.String())
	if err != nil {
		return Verifiers{}, false, &Failure{Condition: CondTemporaryAuthFailure, Err: err}
	}
	return v, false, nil
}

// limited is the failure of an attempt the Limiter refused.
func limited() *Failure {
	return fail(CondTemporaryAuthFailure, "too many failed attempts; try again later")
}

// streamDomain normalises the domain a session was started for. A failure
// is the server's fault (it passes its own configured domains), reported as
// temporary-auth-failure when the client first speaks.
func streamDomain(domain string) (string, *Failure) {
	d, err := xmpp.ParseJID(domain)
	if err != nil || d.Local() != "" || !d.IsBare() {
		return "", &Failure{Condition: CondTemporaryAuthFailure, Err: fmt.Errorf("auth: stream domain %q is not a domain", domain)}
	}
	return d.Domain(), nil
}
