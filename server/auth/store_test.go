package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"hash"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// countingBackend counts reads, to show what a refused attempt does not do.
type countingBackend struct {
	storage.Backend
	gets atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, key []byte) ([]byte, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

// newTestStore returns a Store over a fresh in-memory backend.
func newTestStore(t testing.TB, opts StoreOptions) (*Store, *countingBackend) {
	t.Helper()
	be := &countingBackend{Backend: moduletest.NewMemStore()}
	s, err := NewStore(be, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, be
}

// mustCreate adds accounts given as "local@domain" → password.
func mustCreate(t testing.TB, s *Store, users map[string]string) {
	t.Helper()
	for u, p := range users {
		if err := s.Create(context.Background(), xmpp.MustParseJID(u), p); err != nil {
			t.Fatalf("create %s: %v", u, err)
		}
	}
}

func TestStoreAccounts(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreOptions{})
	alice := xmpp.MustParseJID("Alice@Example.org")

	if err := s.Create(ctx, alice, "pencil"); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Create(ctx, xmpp.MustParseJID("alice@example.org"), "other"); !errors.Is(err, modules.ErrAccountExists) {
		t.Fatalf("second Create = %v, want ErrAccountExists", err)
	}
	if ok, err := s.Exists(ctx, xmpp.MustParseJID("ALICE@example.org")); !ok || err != nil {
		t.Fatalf("Exists = %v, %v; want true", ok, err)
	}
	if ok, err := s.Exists(ctx, xmpp.MustParseJID("bob@example.org")); ok || err != nil {
		t.Fatalf("Exists(bob) = %v, %v; want false", ok, err)
	}
	v1, err := s.Lookup(ctx, alice)
	if err != nil || v1.Iterations != DefaultIterations || len(v1.Salt) != SaltLen {
		t.Fatalf("Lookup = %+v, %v", v1, err)
	}
	if err := s.SetPassword(ctx, alice, "pen"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	v2, err := s.Lookup(ctx, alice)
	if err != nil || bytes.Equal(v1.Salt, v2.Salt) || bytes.Equal(v1.SHA256.StoredKey, v2.SHA256.StoredKey) {
		t.Fatalf("after SetPassword: salt and keys not renewed (%v)", err)
	}
	if err := s.SetPassword(ctx, xmpp.MustParseJID("bob@example.org"), "x"); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("SetPassword(bob) = %v, want ErrNoAccount", err)
	}
	if _, err := s.Lookup(ctx, xmpp.MustParseJID("bob@example.org")); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("Lookup(bob) = %v, want ErrNoAccount", err)
	}
	if err := s.Delete(ctx, alice); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, _ := s.Exists(ctx, alice); ok {
		t.Fatal("account exists after Delete")
	}
	if err := s.Delete(ctx, alice); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("second Delete = %v, want ErrNoAccount", err)
	}
}

func TestStoreRejects(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreOptions{})
	tests := []struct {
		name     string
		user     string
		password string
	}{
		{name: "resource", user: "alice@example.org/phone", password: "pencil"},
		{name: "domain only", user: "example.org", password: "pencil"},
		{name: "empty password", user: "alice@example.org", password: ""},
		{name: "control character in password", user: "alice@example.org", password: "a\x00b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := xmpp.MustParseJID(tc.user)
			if err := s.Create(ctx, u, tc.password); err == nil {
				t.Fatalf("Create(%s, %q) succeeded", tc.user, tc.password)
			}
			if ok, _ := s.Exists(ctx, u); ok {
				t.Fatalf("%s exists", tc.user)
			}
		})
	}
	if _, err := NewStore(moduletest.NewMemStore(), StoreOptions{Iterations: 100}); err == nil {
		t.Error("NewStore accepted 100 iterations")
	}
}

func TestStoreIterations(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreOptions{Iterations: 5000})
	u := xmpp.MustParseJID("alice@example.org")
	mustCreate(t, s, map[string]string{u.String(): "pencil"})
	v, err := s.Lookup(ctx, u)
	if err != nil || v.Iterations != 5000 {
		t.Fatalf("Lookup = %d iterations, %v; want 5000", v.Iterations, err)
	}
}

func TestStoreList(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreOptions{})
	mustCreate(t, s, map[string]string{
		"bob@example.org":      "x",
		"alice@example.org":    "x",
		"jürgen@example.org":   "x",
		"carol@example.net":    "x",
		"dave@sub.example.org": "x",
	})
	got, err := s.List(ctx, "Example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := []xmpp.JID{
		xmpp.MustParseJID("alice@example.org"),
		xmpp.MustParseJID("bob@example.org"),
		xmpp.MustParseJID("jürgen@example.org"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if got, err := s.List(ctx, "example.com"); err != nil || len(got) != 0 {
		t.Fatalf("List(example.com) = %v, %v; want none", got, err)
	}
	if _, err := s.List(ctx, "alice@example.org"); err == nil {
		t.Fatal("List accepted a user address as a domain")
	}
}

func TestStoreDeleteRunsOnDelete(t *testing.T) {
	ctx := context.Background()
	var (
		calls  []xmpp.JID
		failOn = xmpp.MustParseJID("bob@example.org")
	)
	var s *Store
	s, _ = newTestStore(t, StoreOptions{OnDelete: func(ctx context.Context, u xmpp.JID) error {
		calls = append(calls, u)
		// The account still exists while its data is removed.
		if ok, err := s.Exists(ctx, u); !ok || err != nil {
			t.Errorf("in OnDelete: Exists(%s) = %v, %v", u, ok, err)
		}
		if u == failOn {
			return errors.New("observer failed")
		}
		return nil
	}})
	mustCreate(t, s, map[string]string{"alice@example.org": "x", "bob@example.org": "x"})

	if err := s.Delete(ctx, xmpp.MustParseJID("alice@example.org")); err != nil {
		t.Fatalf("Delete(alice): %v", err)
	}
	if err := s.Delete(ctx, failOn); err == nil {
		t.Fatal("Delete(bob) succeeded although OnDelete failed")
	}
	if ok, _ := s.Exists(ctx, failOn); !ok {
		t.Fatal("bob was removed although OnDelete failed")
	}
	want := []xmpp.JID{xmpp.MustParseJID("alice@example.org"), failOn}
	if !slices.Equal(calls, want) {
		t.Fatalf("OnDelete calls = %v, want %v", calls, want)
	}
}

func TestStoreConcurrentCreate(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreOptions{})
	u := xmpp.MustParseJID("alice@example.org")
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		exists  atomic.Int32
	)
	for range 4 {
		wg.Go(func() {
			switch err := s.Create(ctx, u, "pencil"); {
			case err == nil:
				created.Add(1)
			case errors.Is(err, modules.ErrAccountExists):
				exists.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || exists.Load() != 3 {
		t.Fatalf("created %d, exists %d; want 1 and 3", created.Load(), exists.Load())
	}
	if len(s.locks.m) != 0 {
		t.Fatalf("%d key locks left", len(s.locks.m))
	}
}

// TestNoPasswordEquivalent checks what is stored against everything that
// would let someone log in: the password (raw and normalised), the salted
// passwords and the client keys.
func TestNoPasswordEquivalent(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		password string
	}{
		{name: "ascii", password: "correct horse battery staple"},
		{name: "non-ascii nfd", password: "pa\u0308sswo\u0308rd ✓"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestStore(t, StoreOptions{})
			u := xmpp.MustParseJID("alice@example.org")
			mustCreate(t, s, map[string]string{u.String(): tc.password})
			var recs [][]byte
			err := s.be.Scan(ctx, []byte(keyPrefix), nil, 0, func(k, v []byte) error {
				recs = append(recs, append(bytes.Clone(k), v...))
				return nil
			})
			if err != nil || len(recs) == 0 {
				t.Fatalf("scan: %d records, %v", len(recs), err)
			}
			v, err := s.Lookup(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			norm, _ := NormalizePassword(tc.password)
			secrets := map[string][]byte{
				"password":            []byte(tc.password),
				"normalised password": []byte(norm),
			}
			for name, h := range map[string]func() hash.Hash{"sha-1": sha1.New, "sha-256": sha256.New} {
				sp, err := pbkdf2.Key(h, norm, v.Salt, v.Iterations, h().Size())
				if err != nil {
					t.Fatal(err)
				}
				m := hmac.New(h, sp)
				m.Write([]byte("Client Key"))
				secrets[name+" salted password"] = sp
				secrets[name+" client key"] = m.Sum(nil)
			}
			for _, rec := range recs {
				for name, secret := range secrets {
					if bytes.Contains(rec, secret) {
						t.Errorf("stored record contains the %s", name)
					}
				}
			}
		})
	}
}
