package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// ErrNoAccount is returned for an account that does not exist.
var ErrNoAccount = errors.New("auth: no such account")

const (
	keyPrefix = "auth/"
	// secretKey holds the secret fake salts are derived from. A domain is
	// never empty, so it cannot collide with an account key.
	secretKey = keyPrefix + "/secret"
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// Iterations is the PBKDF2 iteration count of new and changed
	// passwords. Default DefaultIterations; at least MinIterations.
	Iterations int

	// OnDelete runs when an account is deleted, before its verifiers are
	// removed: the server removes the account's data (modules'
	// AccountObservers) and ends its sessions there. If it fails, the
	// account stays, so the deletion can be retried. It must not call
	// Create, SetPassword or Delete for the same user.
	OnDelete func(ctx context.Context, user xmpp.JID) error
}

// Store keeps accounts as SCRAM verifiers in a storage.Backend, under
// "auth/<domain>/<localpart>". It implements modules.Accounts. Its
// methods are safe for concurrent use; changes to one account are
// serialised within the process (a cluster relies on the backend).
type Store struct {
	be    storage.Backend
	opts  StoreOptions
	locks keyLocks

	secretMu sync.Mutex
	secret   []byte // see fakeKey
}

// NewStore returns a Store over be.
func NewStore(be storage.Backend, opts StoreOptions) (*Store, error) {
	if opts.Iterations == 0 {
		opts.Iterations = DefaultIterations
	}
	if opts.Iterations < MinIterations || opts.Iterations > MaxIterations {
		return nil, fmt.Errorf("auth: iteration count %d outside [%d, %d]", opts.Iterations, MinIterations, MaxIterations)
	}
	return &Store{be: be, opts: opts, locks: keyLocks{m: map[string]*keyLock{}}}, nil
}

// accountKey returns the storage key of a checked user.
func accountKey(user xmpp.JID) []byte {
	return []byte(keyPrefix + user.Domain() + "/" + user.Local())
}

// checkUser accepts bare JIDs with a localpart.
func checkUser(user xmpp.JID) error {
	switch {
	case user.Local() == "":
		return fmt.Errorf("auth: %q is not a user address", user)
	case !user.IsBare():
		return fmt.Errorf("auth: %q has a resource; accounts are bare JIDs", user)
	}
	return nil
}

// Create adds an account; it fails with modules.ErrAccountExists if the
// user exists.
func (s *Store) Create(ctx context.Context, user xmpp.JID, password string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	key := accountKey(user)
	// Refuse a taken name before paying for PBKDF2; checked again below.
	if ok, err := s.exists(ctx, key); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("auth: create %s: %w", user, modules.ErrAccountExists)
	}
	rec, err := s.record(password)
	if err != nil {
		return err
	}
	defer s.locks.lock(string(key))()
	if ok, err := s.exists(ctx, key); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("auth: create %s: %w", user, modules.ErrAccountExists)
	}
	if err := storage.Put(ctx, s.be, key, rec); err != nil {
		return fmt.Errorf("auth: create %s: %w", user, err)
	}
	return nil
}

// SetPassword replaces the password of an existing account.
func (s *Store) SetPassword(ctx context.Context, user xmpp.JID, password string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	rec, err := s.record(password)
	if err != nil {
		return err
	}
	key := accountKey(user)
	defer s.locks.lock(string(key))()
	if ok, err := s.exists(ctx, key); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("auth: set password of %s: %w", user, ErrNoAccount)
	}
	if err := storage.Put(ctx, s.be, key, rec); err != nil {
		return fmt.Errorf("auth: set password of %s: %w", user, err)
	}
	return nil
}

// Delete removes an account: it runs StoreOptions.OnDelete, then removes
// the verifiers. Deleting a missing account fails with ErrNoAccount.
func (s *Store) Delete(ctx context.Context, user xmpp.JID) error {
	if err := checkUser(user); err != nil {
		return err
	}
	key := accountKey(user)
	// Held across OnDelete, so that the name cannot be registered again
	// while the old account's data is being removed.
	defer s.locks.lock(string(key))()
	if ok, err := s.exists(ctx, key); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("auth: delete %s: %w", user, ErrNoAccount)
	}
	if s.opts.OnDelete != nil {
		if err := s.opts.OnDelete(ctx, user); err != nil {
			return fmt.Errorf("auth: delete %s: %w", user, err)
		}
	}
	if err := storage.Delete(ctx, s.be, key); err != nil {
		return fmt.Errorf("auth: delete %s: %w", user, err)
	}
	return nil
}

// Exists reports whether the account exists.
func (s *Store) Exists(ctx context.Context, user xmpp.JID) (bool, error) {
	if err := checkUser(user); err != nil {
		return false, err
	}
	return s.exists(ctx, accountKey(user))
}

func (s *Store) exists(ctx context.Context, key []byte) (bool, error) {
	_, err := s.be.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("auth: read %s: %w", key, err)
}

// List returns the accounts of domain in key order. It reads them all, for
// the administration tools.
func (s *Store) List(ctx context.Context, domain string) ([]xmpp.JID, error) {
	d, err := xmpp.ParseJID(domain)
	if err != nil || d.Local() != "" || !d.IsBare() {
		return nil, fmt.Errorf("auth: list: %q is not a domain", domain)
	}
	prefix := keyPrefix + d.Domain() + "/"
	var users []xmpp.JID
	err = s.be.Scan(ctx, []byte(prefix), nil, 0, func(k, _ []byte) error {
		local := string(k[len(prefix):])
		j, err := userJID(local, d.Domain())
		if err != nil || j.Local() != local {
			return fmt.Errorf("auth: list: stored key %q is not a normalised user", k)
		}
		users = append(users, j)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list %s: %w", d, err)
	}
	return users, nil
}

// Lookup returns the verifiers of an account, or ErrNoAccount.
func (s *Store) Lookup(ctx context.Context, user xmpp.JID) (Verifiers, error) {
	if err := checkUser(user); err != nil {
		return Verifiers{}, err
	}
	b, err := s.be.Get(ctx, accountKey(user))
	if errors.Is(err, storage.ErrNotFound) {
		return Verifiers{}, fmt.Errorf("auth: %s: %w", user, ErrNoAccount)
	}
	if err != nil {
		return Verifiers{}, fmt.Errorf("auth: lookup %s: %w", user, err)
	}
	var v Verifiers
	if err := v.UnmarshalBinary(b); err != nil {
		return Verifiers{}, fmt.Errorf("auth: lookup %s: %w", user, err)
	}
	return v, nil
}

// record derives and encodes the verifiers of password.
func (s *Store) record(password string) ([]byte, error) {
	v, err := NewVerifiers(password, s.opts.Iterations)
	if err != nil {
		return nil, err
	}
	return v.MarshalBinary()
}

// fakeVerifiers returns verifiers for a user that does not exist, so that
// a login attempt for it looks like one with a wrong password: the salt is
// derived from the username (the same on every attempt, on every node and
// across restarts, as a real one would be) and the iteration count is the
// configured one. The keys match no password.
func (s *Store) fakeVerifiers(ctx context.Context, user string) (Verifiers, error) {
	secret, err := s.loadSecret(ctx)
	if err != nil {
		return Verifiers{}, err
	}
	derive := func(label string, n int) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(user))
		return m.Sum(nil)[:n]
	}
	return Verifiers{
		Version:    VerifiersVersion,
		Salt:       derive("salt", SaltLen),
		Iterations: s.opts.Iterations,
		SHA1:       Keys{StoredKey: derive("sha1 stored", hashSHA1.size), ServerKey: derive("sha1 server", hashSHA1.size)},
		SHA256:     Keys{StoredKey: derive("sha256 stored", hashSHA256.size), ServerKey: derive("sha256 server", hashSHA256.size)},
	}, nil
}

// loadSecret returns the secret fake salts derive from. It is kept in the
// backend so that every node of a cluster, and the server after a restart,
// give an unknown user the same salt: a salt that changed would tell the
// user apart from a real one.
func (s *Store) loadSecret(ctx context.Context) ([]byte, error) {
	s.secretMu.Lock()
	defer s.secretMu.Unlock()
	if s.secret != nil {
		return s.secret, nil
	}
	b, err := s.be.Get(ctx, []byte(secretKey))
	if errors.Is(err, storage.ErrNotFound) {
		b = make([]byte, 32)
		rand.Read(b)
		if err := storage.Put(ctx, s.be, []byte(secretKey), b); err != nil {
			return nil, fmt.Errorf("auth: store secret: %w", err)
		}
		// Another node may have written its own at the same time: use
		// whichever the backend kept.
		b, err = s.be.Get(ctx, []byte(secretKey))
	}
	if err != nil {
		return nil, fmt.Errorf("auth: read secret: %w", err)
	}
	if len(b) < 16 {
		return nil, fmt.Errorf("auth: stored secret of %d bytes", len(b))
	}
	s.secret = b
	return b, nil
}

// keyLocks serialises changes to one account without making different
// accounts wait for each other.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock function.
func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

var _ modules.Accounts = (*Store)(nil)
