package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" // #nosec G505: SCRAM-SHA-1 is RFC 6120's mandatory mechanism
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// scramKeys are the keys derived from a salted password (RFC 5802 §3).
type scramKeys struct {
	clientKey, storedKey, serverKey []byte
}

// keyCache remembers the keys per (mechanism, password, salt, iterations),
// so PBKDF2 — the expensive part of a SCRAM login, deliberately so — runs
// once per distinct salt in a run rather than once per login. Accounts
// that share a salt share one computation; a server that salts each
// account differently costs one PBKDF2 per account per run.
type keyCache struct {
	m    sync.Map // string → *scramKeys
	runs atomic.Int64
}

func (c *keyCache) keys(h func() hash.Hash, mech, password string, salt []byte, iter int) (*scramKeys, error) {
	id := mech + "\x00" + password + "\x00" + string(salt) + "\x00" + strconv.Itoa(iter)
	if k, ok := c.m.Load(id); ok {
		return k.(*scramKeys), nil
	}
	salted, err := pbkdf2.Key(h, password, salt, iter, h().Size())
	if err != nil {
		return nil, fmt.Errorf("parley-bench: pbkdf2: %w", err)
	}
	c.runs.Add(1)
	k := &scramKeys{clientKey: hmacSum(h, salted, "Client Key"), serverKey: hmacSum(h, salted, "Server Key")}
	d := h()
	d.Write(k.clientKey)
	k.storedKey = d.Sum(nil)
	v, _ := c.m.LoadOrStore(id, k)
	return v.(*scramKeys), nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func scramHash(mech string) (func() hash.Hash, error) {
	switch mech {
	case "SCRAM-SHA-256":
		return sha256.New, nil
	case "SCRAM-SHA-1":
		return sha1.New, nil
	}
	return nil, fmt.Errorf("parley-bench: unsupported SCRAM mechanism %q", mech)
}

// scramClient is one SCRAM exchange, client side, without channel binding
// (gs2 header "n,,").
type scramClient struct {
	mech, user, password string
	h                    func() hash.Hash
	cache                *keyCache
	nonce                string
	clientFirstBare      string
	authMessage          string
	keys                 *scramKeys
}

func newScramClient(mech, user, password string, cache *keyCache) (*scramClient, error) {
	h, err := scramHash(mech)
	if err != nil {
		return nil, err
	}
	var n [18]byte
	_, _ = rand.Read(n[:])
	c := &scramClient{mech: mech, user: user, password: password, h: h, cache: cache,
		nonce: base64.RawStdEncoding.EncodeToString(n[:])}
	c.clientFirstBare = "n=" + saslName(user) + ",r=" + c.nonce
	return c, nil
}

// first is the client-first-message.
func (c *scramClient) first() []byte { return []byte("n,," + c.clientFirstBare) }

// final answers the server-first-message with the client-final-message.
func (c *scramClient) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt64, iters string
	for _, f := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(f, "r="):
			nonce = f[2:]
		case strings.HasPrefix(f, "s="):
			salt64 = f[2:]
		case strings.HasPrefix(f, "i="):
			iters = f[2:]
		case strings.HasPrefix(f, "m="):
			return nil, errors.New("parley-bench: scram: unsupported mandatory extension")
		}
	}
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) {
		return nil, errors.New("parley-bench: scram: server nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, errors.New("parley-bench: scram: bad salt")
	}
	iter, err := strconv.Atoi(iters)
	if err != nil || iter < 1 || iter > 1<<24 {
		return nil, errors.New("parley-bench: scram: bad iteration count")
	}
	c.keys, err = c.cache.keys(c.h, c.mech, c.password, salt, iter)
	if err != nil {
		return nil, err
	}
	withoutProof := "c=biws,r=" + nonce // biws = base64("n,,")
	c.authMessage = c.clientFirstBare + "," + string(serverFirst) + "," + withoutProof
	sig := hmacSum(c.h, c.keys.storedKey, c.authMessage)
	proof := make([]byte, len(sig))
	subtle.XORBytes(proof, c.keys.clientKey, sig)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message's signature.
func (c *scramClient) verify(serverFinal []byte) error {
	if bytes.HasPrefix(serverFinal, []byte("e=")) {
		return fmt.Errorf("parley-bench: scram: server error %s", serverFinal[2:])
	}
	if !bytes.HasPrefix(serverFinal, []byte("v=")) || c.keys == nil {
		return errors.New("parley-bench: scram: no server signature")
	}
	got, err := base64.StdEncoding.DecodeString(string(serverFinal[2:]))
	if err != nil {
		return errors.New("parley-bench: scram: bad server signature encoding")
	}
	if !hmac.Equal(got, hmacSum(c.h, c.keys.serverKey, c.authMessage)) {
		return errors.New("parley-bench: scram: wrong server signature")
	}
	return nil
}

// saslName escapes a username for SCRAM (RFC 5802 §5.1).
func saslName(s string) string {
	if !strings.ContainsAny(s, "=,") {
		return s
	}
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}
