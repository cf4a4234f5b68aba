package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" // #nosec G505: SCRAM-SHA-1 is RFC 6120's mandatory mechanism
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Iteration counts for PBKDF2 (RFC 5802 §2.2 Hi). RFC 7677 §4 asks for at
// least 4096; the maximum keeps one login under a few hundred milliseconds
// of server CPU even for a corrupted record.
const (
	DefaultIterations = 4096
	MinIterations     = 4096
	MaxIterations     = 1 << 20
)

// SaltLen is the length of the random salt of new verifiers, in bytes.
const SaltLen = 16

// VerifiersVersion is the encoding version written by MarshalBinary.
const VerifiersVersion = 1

// ErrBadRecord is returned when stored verifiers cannot be decoded.
var ErrBadRecord = errors.New("auth: bad verifiers record")

// Keys are the SCRAM verifiers for one hash function (RFC 5802 §3):
// StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
// ServerKey = HMAC(SaltedPassword, "Server Key"). Neither lets anyone
// authenticate as the user: a proof needs ClientKey, which StoredKey hides
// behind a hash.
type Keys struct {
	StoredKey []byte
	ServerKey []byte
}

// Verifiers are what the server keeps of a password: the salt and
// iteration count shared by both hash functions, and the keys for each.
type Verifiers struct {
	Version    byte
	Salt       []byte
	Iterations int
	SHA1       Keys
	SHA256     Keys
}

// scramHash is a hash function SCRAM is used with.
type scramHash struct {
	new  func() hash.Hash
	size int
}

var (
	hashSHA1   = scramHash{new: sha1.New, size: sha1.Size}
	hashSHA256 = scramHash{new: sha256.New, size: sha256.Size}
)

// NewVerifiers normalises password (NormalizePassword) and derives its
// verifiers with a fresh random salt. iterations 0 means DefaultIterations.
func NewVerifiers(password string, iterations int) (Verifiers, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return Verifiers{}, fmt.Errorf("auth: iteration count %d outside [%d, %d]", iterations, MinIterations, MaxIterations)
	}
	p, err := NormalizePassword(password)
	if err != nil {
		return Verifiers{}, err
	}
	salt := make([]byte, SaltLen)
	rand.Read(salt) // never fails (crypto/rand)
	v := Verifiers{Version: VerifiersVersion, Salt: salt, Iterations: iterations}
	if v.SHA1, err = deriveKeys(hashSHA1, p, salt, iterations); err != nil {
		return Verifiers{}, err
	}
	if v.SHA256, err = deriveKeys(hashSHA256, p, salt, iterations); err != nil {
		return Verifiers{}, err
	}
	return v, nil
}

// keys returns the verifiers for h.
func (v *Verifiers) keys(h scramHash) Keys {
	if h.size == sha1.Size {
		return v.SHA1
	}
	return v.SHA256
}

// saltedPassword is Hi(password, salt, i) of RFC 5802 §2.2: PBKDF2 with
// HMAC-H and an output as long as H's. The result is password-equivalent
// and must never leave the function that asked for it.
func saltedPassword(h scramHash, password string, salt []byte, iterations int) ([]byte, error) {
	sp, err := pbkdf2.Key(h.new, password, salt, iterations, h.size)
	if err != nil {
		return nil, fmt.Errorf("auth: pbkdf2: %w", err)
	}
	return sp, nil
}

// deriveKeys computes StoredKey and ServerKey from a normalised password.
func deriveKeys(h scramHash, password string, salt []byte, iterations int) (Keys, error) {
	sp, err := saltedPassword(h, password, salt, iterations)
	if err != nil {
		return Keys{}, err
	}
	defer clear(sp)
	return Keys{StoredKey: storedKey(h, sp), ServerKey: hmacSum(h, sp, "Server Key")}, nil
}

// storedKey returns H(HMAC(saltedPassword, "Client Key")).
func storedKey(h scramHash, sp []byte) []byte {
	ck := hmacSum(h, sp, "Client Key")
	defer clear(ck)
	d := h.new()
	d.Write(ck)
	return d.Sum(nil)
}

func hmacSum(h scramHash, key []byte, msg string) []byte {
	m := hmac.New(h.new, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// MarshalBinary encodes v, version 1:
//
//	version (1 byte) | iterations (uint32, big-endian) | salt length (1 byte) | salt |
//	SHA-1 StoredKey (20) | SHA-1 ServerKey (20) | SHA-256 StoredKey (32) | SHA-256 ServerKey (32)
func (v Verifiers) MarshalBinary() ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 6+len(v.Salt)+2*sha1.Size+2*sha256.Size)
	b = append(b, VerifiersVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(v.Iterations))
	b = append(b, byte(len(v.Salt)))
	b = append(b, v.Salt...)
	b = append(b, v.SHA1.StoredKey...)
	b = append(b, v.SHA1.ServerKey...)
	b = append(b, v.SHA256.StoredKey...)
	b = append(b, v.SHA256.ServerKey...)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (v *Verifiers) UnmarshalBinary(b []byte) error {
	if len(b) < 6 {
		return fmt.Errorf("%w: %d bytes", ErrBadRecord, len(b))
	}
	if b[0] != VerifiersVersion {
		return fmt.Errorf("%w: unknown version %d", ErrBadRecord, b[0])
	}
	iter := binary.BigEndian.Uint32(b[1:5])
	n := int(b[5])
	want := 6 + n + 2*sha1.Size + 2*sha256.Size
	if len(b) != want {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadRecord, len(b), want)
	}
	b = b[6:]
	next := func(k int) []byte {
		f := b[:k:k]
		b = b[k:]
		return f
	}
	d := Verifiers{Version: VerifiersVersion, Iterations: int(iter)}
	d.Salt = next(n)
	d.SHA1 = Keys{StoredKey: next(sha1.Size), ServerKey: next(sha1.Size)}
	d.SHA256 = Keys{StoredKey: next(sha256.Size), ServerKey: next(sha256.Size)}
	if err := d.check(); err != nil {
		return err
	}
	*v = d
	return nil
}

// check validates field sizes and ranges. Stored records may carry an
// iteration count below today's MinIterations (a policy of the past) but
// never beyond MaxIterations, which bounds the work one login can cost.
func (v Verifiers) check() error {
	switch {
	case v.Version != VerifiersVersion:
		return fmt.Errorf("%w: version %d", ErrBadRecord, v.Version)
	case v.Iterations < 1 || v.Iterations > MaxIterations:
		return fmt.Errorf("%w: iteration count %d", ErrBadRecord, v.Iterations)
	case len(v.Salt) == 0 || len(v.Salt) > 255:
		return fmt.Errorf("%w: salt of %d bytes", ErrBadRecord, len(v.Salt))
	case len(v.SHA1.StoredKey) != sha1.Size || len(v.SHA1.ServerKey) != sha1.Size,
		len(v.SHA256.StoredKey) != sha256.Size || len(v.SHA256.ServerKey) != sha256.Size:
		return fmt.Errorf("%w: key length", ErrBadRecord)
	}
	return nil
}
