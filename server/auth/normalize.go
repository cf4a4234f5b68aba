package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/parley-im/parley/xmpp"
)

// MaxPasswordLen bounds a normalised password, in bytes. It keeps PLAIN
// messages small and is far beyond any password a person types.
const MaxPasswordLen = 1023

// Errors of the normalisation functions.
var (
	ErrEmptyUser       = errors.New("auth: empty username")
	ErrInvalidUser     = errors.New("auth: invalid username")
	ErrEmptyPassword   = errors.New("auth: empty password")
	ErrInvalidPassword = errors.New("auth: invalid password")
)

// NormalizeUser returns the canonical form of a username, which is a JID
// localpart: the PRECIS UsernameCaseMapped profile plus the characters RFC
// 7622 §3.3.1 forbids, through the same code that normalises the localparts
// of every JID the server parses, so an account created as "Jürgen" is the
// account "jürgen" of the address jürgen@example.org and of a SASL login as
// "JÜRGEN".
func NormalizeUser(local string) (string, error) {
	// The domain only completes the address: localpart normalisation does
	// not depend on it.
	j, err := userJID(local, "localhost")
	if err != nil {
		return "", err
	}
	return j.Local(), nil
}

// userJID returns the bare JID local@domain with local normalised as a
// localpart. local must be a localpart alone: '@' and '/' are forbidden in
// localparts (RFC 7622 §3.3.1) and are refused before xmpp.NewJID joins the
// parts, which would otherwise split them differently.
func userJID(local, domain string) (xmpp.JID, error) {
	if local == "" {
		return xmpp.JID{}, ErrEmptyUser
	}
	if strings.ContainsAny(local, "@/") {
		return xmpp.JID{}, fmt.Errorf("%w: %q contains '@' or '/'", ErrInvalidUser, local)
	}
	j, err := xmpp.NewJID(local, domain, "")
	if err != nil {
		return xmpp.JID{}, fmt.Errorf("%w: %w", ErrInvalidUser, err)
	}
	if j.Local() == "" || !j.IsBare() {
		return xmpp.JID{}, fmt.Errorf("%w: %q", ErrInvalidUser, local)
	}
	return j, nil
}

// NormalizePassword returns the canonical form of a password: the PRECIS
// OpaqueString profile (RFC 8265 §4.2), which maps non-ASCII spaces to
// U+0020 and applies Unicode NFC, so a password typed in decomposed form
// matches the same password typed precomposed.
func NormalizePassword(p string) (string, error) {
	if p == "" {
		return "", ErrEmptyPassword
	}
	if !utf8.ValidString(p) {
		// precis would map bad bytes to U+FFFD, making different byte
		// strings the same password.
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidPassword)
	}
	n, err := precis.OpaqueString.String(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidPassword, err)
	}
	if n == "" {
		return "", ErrEmptyPassword
	}
	if len(n) > MaxPasswordLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPassword, MaxPasswordLen)
	}
	return n, nil
}
