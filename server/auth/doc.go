// Package auth implements user accounts and the server side of SASL
// (RFC 4422) for client streams: SCRAM-SHA-256 (RFC 7677), SCRAM-SHA-1
// (RFC 5802) and PLAIN (RFC 4616), with rate limits on failed logins.
//
// # Credentials
//
// Only SCRAM verifiers are stored (RFC 5802 §9): a random salt, the
// iteration count, and StoredKey and ServerKey for SHA-1 and SHA-256. No
// password or password-equivalent (the salted password, or ClientKey) is
// ever written. Usernames are normalised with the PRECIS UsernameCaseMapped
// profile exactly as JID localparts are (RFC 7622 §3.3), and passwords with
// OpaqueString (RFC 8265 §4.2), by the same functions at account creation and
// at login. For SCRAM the client derives its proof from the password it was
// given, so RFC 5802 §2.2 makes normalising it the client's job; PLAIN
// passwords are normalised here.
//
// # Storage
//
// One key per account, "auth/<domain>/<localpart>" (both normalised),
// holding the encoded Verifiers (see Verifiers.MarshalBinary).
//
// # Mechanisms
//
// Mechanisms carry no XML: a ServerSession takes the client's decoded
// message and returns the server's, and the stream code wraps them in
// <challenge/>, <success/> and <failure/>. Failures are *Failure values with
// an RFC 6120 §6.5 condition. No -PLUS mechanism is offered: channel binding
// is not implemented, and a client asking for it ('p' flag) is refused.
//
// Unknown users and wrong passwords are indistinguishable to the client:
// SCRAM answers an unknown user with a deterministic fake salt (an HMAC of
// the username under a per-process secret) and fails at the end with
// not-authorized, and PLAIN runs PBKDF2 for them as well.
//
// # Rate limits
//
// Limiter keeps token buckets per remote address (IPv4 /32, IPv6 /64) and
// per account. An attempt takes one token from each before any storage read
// or PBKDF2 work (PLAIN) and before the SCRAM challenge is sent; an empty
// bucket fails the attempt with temporary-auth-failure. A successful login
// gives its tokens back, so only failed or abandoned attempts cost anything:
// a user who logs in normally, or many users behind one NAT, never drain a
// bucket, while guessing many passwords of one account from many addresses
// runs into the account's bucket, and guessing many accounts from one
// address into that address's bucket. An address that has logged in to an
// account successfully in the last day skips that account's bucket (the
// address bucket still applies), so an attacker guessing from elsewhere
// cannot lock the owner out.
package auth
