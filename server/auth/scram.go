package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/parley-im/parley/xmpp"
)

// serverNonceLen is the number of random bytes of the server's part of the
// SCRAM nonce (RFC 5802 §5.1 asks for a fresh random value; 24 bytes give
// 192 bits and 32 base64 characters without padding).
const serverNonceLen = 24

// scramMechanism is SCRAM-SHA-1 (RFC 5802) or SCRAM-SHA-256 (RFC 7677)
// without channel binding, verifying against stored keys only.
type scramMechanism struct {
	name  string
	h     scramHash
	store *Store
	lim   *Limiter
}

func (m *scramMechanism) Name() string { return m.name }

func (m *scramMechanism) NewServer(domain string, _ bool) ServerSession {
	return &scramServer{m: m, domain: domain}
}

type scramServer struct {
	m      *scramMechanism
	domain string
	state  int

	gs2     []byte // the client's gs2-header, which c= must repeat
	nonce   []byte // client nonce + server nonce
	authMsg []byte // client-first-message-bare "," server-first-message ","
	user    xmpp.JID
	keys    Keys
	known   bool // false: keys are fake and no proof can match
	att     attempt

	// fixedNonce replaces the random server nonce, for the test vectors of
	// RFC 5802 and RFC 7677 and for benchmarks.
	fixedNonce []byte
}

func (s *scramServer) Step(ctx context.Context, in []byte) (out []byte, done bool, user xmpp.JID, err error) {
	var f *Failure
	switch s.state {
	case stepStart:
		if len(in) == 0 {
			// RFC 6120 §6.4.2: no initial response, so an empty challenge.
			s.state = stepWaitFirst
			return []byte{}, false, xmpp.JID{}, nil
		}
		out, f = s.first(ctx, in)
	case stepWaitFirst:
		out, f = s.first(ctx, in)
	case stepWaitFinal:
		out, f = s.final(in)
		if f == nil {
			s.state = stepDone
			return out, true, s.user, nil
		}
	default:
		f = fail(CondMalformedRequest, "exchange is over")
	}
	if f != nil {
		s.state = stepDone
		return nil, false, xmpp.JID{}, f
	}
	s.state = stepWaitFinal
	return out, false, xmpp.JID{}, nil
}

// first handles the client-first-message (RFC 5802 §7):
//
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
//
// and returns the server-first-message "r=<nonce>,s=<salt>,i=<count>".
func (s *scramServer) first(ctx context.Context, in []byte) ([]byte, *Failure) {
	if len(in) == 0 || len(in) > maxMessage || !utf8.Valid(in) {
		return nil, fail(CondMalformedRequest, "")
	}
	domain, f := streamDomain(s.domain)
	if f != nil {
		return nil, f
	}

	// gs2-cbind-flag: "n" (client without channel binding) or "y" (client
	// with it, believing the server has none, which is true). "p=" asks
	// for channel binding, which no offered mechanism supports.
	switch {
	case in[0] == 'p':
		return nil, fail(CondMalformedRequest, "channel binding is not supported")
	case len(in) < 2 || (in[0] != 'n' && in[0] != 'y') || in[1] != ',':
		return nil, fail(CondMalformedRequest, "")
	}
	rest := in[2:]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return nil, fail(CondMalformedRequest, "")
	}
	var authzid string
	if end > 0 {
		a, ok := saslnameAttr(rest[:end], 'a')
		if !ok {
			return nil, fail(CondMalformedRequest, "")
		}
		authzid = a
	}
	gs2 := in[:2+end+1]
	bare := in[len(gs2):]

	attrs := bytes.Split(bare, []byte{','})
	if len(attrs) < 2 {
		return nil, fail(CondMalformedRequest, "")
	}
	if len(attrs[0]) >= 2 && attrs[0][0] == 'm' && attrs[0][1] == '=' {
		// RFC 5802 §5.1: "m" must fail authentication; no extension is
		// defined.
		return nil, fail(CondMalformedRequest, "mandatory extensions are not supported")
	}
	name, ok := saslnameAttr(attrs[0], 'n')
	if !ok {
		return nil, fail(CondMalformedRequest, "")
	}
	cnonce, ok := nonceAttr(attrs[1])
	if !ok {
		return nil, fail(CondMalformedRequest, "")
	}
	if f := checkExtensions(attrs[2:]); f != nil {
		return nil, f
	}

	u, f := saslUser(name, domain)
	if f != nil {
		return nil, f
	}
	if f := checkAuthzid(authzid, u); f != nil {
		return nil, f
	}
	// The attempt counts from here: nothing is read or derived for a
	// refused one.
	att, ok := s.m.lim.begin(ctx, u.String())
	if !ok {
		return nil, limited()
	}
	v, known, f := lookup(ctx, s.m.store, u)
	if f != nil {
		return nil, f
	}

	nonce := make([]byte, 0, len(cnonce)+base64.StdEncoding.EncodedLen(serverNonceLen))
	nonce = append(nonce, cnonce...)
	if s.fixedNonce != nil {
		nonce = append(nonce, s.fixedNonce...)
	} else {
		var snonce [serverNonceLen]byte
		rand.Read(snonce[:])
		nonce = base64.StdEncoding.AppendEncode(nonce, snonce[:])
	}

	sf := make([]byte, 0, 64+len(nonce))
	sf = append(sf, "r="...)
	sf = append(sf, nonce...)
	sf = append(sf, ",s="...)
	sf = base64.StdEncoding.AppendEncode(sf, v.Salt)
	sf = append(sf, ",i="...)
	sf = strconv.AppendInt(sf, int64(v.Iterations), 10)

	msg := make([]byte, 0, len(bare)+len(sf)+2+len(gs2)*2+len(nonce)+8)
	msg = append(msg, bare...)
	msg = append(msg, ',')
	msg = append(msg, sf...)
	msg = append(msg, ',')

	s.gs2 = bytes.Clone(gs2)
	s.nonce = nonce
	s.authMsg = msg
	s.user = u
	s.keys = v.keys(s.m.h)
	s.known = known
	s.att = att
	return sf, nil
}

// final handles the client-final-message (RFC 5802 §7):
//
//	channel-binding "," nonce ["," extensions] "," proof
//
// and returns the server-final-message "v=<ServerSignature>".
func (s *scramServer) final(in []byte) ([]byte, *Failure) {
	if len(in) == 0 || len(in) > maxMessage || !utf8.Valid(in) {
		return nil, fail(CondMalformedRequest, "")
	}
	attrs := bytes.Split(in, []byte{','})
	if len(attrs) < 3 {
		return nil, fail(CondMalformedRequest, "")
	}
	last := attrs[len(attrs)-1]
	if !bytes.HasPrefix(attrs[0], []byte("c=")) || !bytes.HasPrefix(attrs[1], []byte("r=")) || !bytes.HasPrefix(last, []byte("p=")) {
		return nil, fail(CondMalformedRequest, "")
	}
	if f := checkExtensions(attrs[2 : len(attrs)-1]); f != nil {
		return nil, f
	}
	cb, err := base64.StdEncoding.DecodeString(string(attrs[0][2:]))
	if err != nil {
		return nil, fail(CondIncorrectEncoding, "")
	}
	proof, err := base64.StdEncoding.DecodeString(string(last[2:]))
	if err != nil {
		return nil, fail(CondIncorrectEncoding, "")
	}
	// Without channel binding, c= carries the gs2-header alone (§5.1).
	if !bytes.Equal(cb, s.gs2) || !bytes.Equal(attrs[1][2:], s.nonce) || len(proof) != s.m.h.size {
		return nil, fail(CondNotAuthorized, "")
	}

	// AuthMessage = client-first-message-bare "," server-first-message ","
	//               client-final-message-without-proof
	msg := append(s.authMsg, in[:len(in)-len(last)-1]...)
	s.authMsg = msg

	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof
	// holds if H(ClientKey) is StoredKey (RFC 5802 §3).
	m := hmac.New(s.m.h.new, s.keys.StoredKey)
	m.Write(msg)
	ck := m.Sum(nil)
	subtle.XORBytes(ck, ck, proof)
	d := s.m.h.new()
	d.Write(ck)
	clear(ck)
	if subtle.ConstantTimeCompare(d.Sum(nil), s.keys.StoredKey) != 1 || !s.known {
		return nil, fail(CondNotAuthorized, "")
	}
	s.att.succeeded()

	m = hmac.New(s.m.h.new, s.keys.ServerKey)
	m.Write(msg)
	out := []byte("v=")
	return base64.StdEncoding.AppendEncode(out, m.Sum(nil)), nil
}

// saslnameAttr decodes attr, which must be "<name>=<saslname>". A saslname
// (RFC 5802 §7) is non-empty UTF-8 without NUL, where ',' is written "=2C"
// and '=' is written "=3D"; any other '=' is an error.
func saslnameAttr(attr []byte, name byte) (string, bool) {
	if len(attr) < 3 || attr[0] != name || attr[1] != '=' {
		return "", false
	}
	v := attr[2:]
	if bytes.IndexByte(v, '=') < 0 {
		if bytes.IndexByte(v, 0) >= 0 {
			return "", false
		}
		return string(v), true
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case 0:
			return "", false
		case '=':
			if i+2 >= len(v) {
				return "", false
			}
			switch string(v[i+1 : i+3]) {
			case "2C":
				out = append(out, ',')
			case "3D":
				out = append(out, '=')
			default:
				return "", false
			}
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), true
}

// nonceAttr returns the value of "r=<c-nonce>"; a nonce is printable ASCII
// other than ',' (RFC 5802 §7).
func nonceAttr(attr []byte) ([]byte, bool) {
	if len(attr) < 3 || attr[0] != 'r' || attr[1] != '=' {
		return nil, false
	}
	for _, c := range attr[2:] {
		if c < 0x21 || c > 0x7e || c == ',' {
			return nil, false
		}
	}
	return attr[2:], true
}

// checkExtensions accepts optional extension attributes, which RFC 5802 §7
// says to ignore, after checking their syntax (attr-val: ALPHA "=" value).
// The reserved "m" must fail authentication (§5.1).
func checkExtensions(attrs [][]byte) *Failure {
	for _, a := range attrs {
		if len(a) < 3 || a[1] != '=' || !(a[0] >= 'a' && a[0] <= 'z' || a[0] >= 'A' && a[0] <= 'Z') || bytes.IndexByte(a, 0) >= 0 {
			return fail(CondMalformedRequest, "")
		}
		if a[0] == 'm' {
			return fail(CondMalformedRequest, "mandatory extensions are not supported")
		}
	}
	return nil
}
