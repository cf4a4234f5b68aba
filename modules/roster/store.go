package roster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Keys:
//
//	roster/item/<user>\x00<contact>  JSON record of one entry (visible or hidden)
//	roster/ver/<user>                8-byte big-endian roster version
//
// Bare JIDs cannot contain NUL, so the item prefix of one user never
// matches another's. The version changes in the same batch as the entry
// whenever the roster as clients see it changes (XEP-0237, RFC 6121 §2.6).
const (
	keyItem = "roster/item/"
	keyVer  = "roster/ver/"
)

func itemPrefix(user xmpp.JID) []byte {
	return append([]byte(keyItem+user.Bare().String()), 0)
}

func itemKey(user, contact xmpp.JID) []byte {
	return append(itemPrefix(user), contact.Bare().String()...)
}

func verKey(user xmpp.JID) []byte { return []byte(keyVer + user.Bare().String()) }

// record is the stored form of an Item; the contact is in the key.
type record struct {
	Name        string       `json:"name,omitempty"`
	Sub         Subscription `json:"sub,omitempty"`
	Ask         bool         `json:"ask,omitempty"`
	PendingIn   bool         `json:"in,omitempty"`
	PreApproved bool         `json:"pre,omitempty"`
	Hidden      bool         `json:"hidden,omitempty"`
	Groups      []string     `json:"groups,omitempty"`
	Request     *Request     `json:"req,omitempty"`
}

func encode(it Item) ([]byte, error) {
	return json.Marshal(record{
		Name: it.Name, Sub: it.Subscription, Ask: it.Ask, PendingIn: it.PendingIn,
		PreApproved: it.PreApproved, Hidden: it.Hidden, Groups: it.Groups, Request: it.Request,
	})
}

func decode(contact xmpp.JID, b []byte) (Item, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Item{}, fmt.Errorf("roster: decode item %s: %w", contact, err)
	}
	return Item{
		JID: contact, Name: r.Name, Subscription: r.Sub & Both, Ask: r.Ask, PendingIn: r.PendingIn,
		PreApproved: r.PreApproved, Hidden: r.Hidden, Groups: r.Groups, Request: r.Request,
	}, nil
}

// userLocks serialise the writes to one user's roster across every Store
// of the process (the roster and presence modules each hold one over the
// same backend), so that read-modify-write updates and the version counter
// stay consistent. They are held while the batch is written, never while
// delivering.
var userLocks [64]sync.Mutex

func lockUser(user xmpp.JID) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(user.Bare().String()))
	return &userLocks[h.Sum32()%uint32(len(userLocks))]
}

// Store keeps users' rosters in a storage.Backend. It is safe for
// concurrent use; several Stores over one backend may coexist.
type Store struct {
	be storage.Backend
}

// NewStore returns a Store over be.
func NewStore(be storage.Backend) *Store { return &Store{be: be} }

// Change is the outcome of an Update.
type Change struct {
	Item    Item   // the entry after the change (zero JID if it was deleted)
	Existed bool   // an entry was stored before
	Exists  bool   // an entry is stored after
	Push    bool   // the roster as clients see it changed: push Item, or its removal
	Removed bool   // with Push: the contact left the roster as clients see it
	Version string // the roster version after the change
}

// Item returns user's roster item for contact. Hidden entries (a pending
// request from someone not in the roster) are not roster items: ok is
// false for them.
func (s *Store) Item(ctx context.Context, user, contact xmpp.JID) (Item, bool, error) {
	it, ok, err := s.entry(ctx, user, contact)
	if err != nil || !ok || it.Hidden {
		return Item{}, false, err
	}
	return it, true, nil
}

func (s *Store) entry(ctx context.Context, user, contact xmpp.JID) (Item, bool, error) {
	b, err := s.be.Get(ctx, itemKey(user, contact))
	if errors.Is(err, storage.ErrNotFound) {
		return Item{}, false, nil
	}
	if err != nil {
		return Item{}, false, fmt.Errorf("roster: get %s of %s: %w", contact, user, err)
	}
	it, err := decode(contact.Bare(), b)
	return it, err == nil, err
}

// Items returns user's roster, sorted by JID, and its version. Hidden
// entries are left out.
func (s *Store) Items(ctx context.Context, user xmpp.JID) ([]Item, string, error) {
	// The version is read first: a change racing with the scan can only
	// make the items newer than the version, which costs the client a
	// full roster next time, never a stale cache.
	ver, err := s.Version(ctx, user)
	if err != nil {
		return nil, "", err
	}
	all, err := s.Entries(ctx, user)
	if err != nil {
		return nil, "", err
	}
	items := all[:0]
	for _, it := range all {
		if it.listed() {
			items = append(items, it)
		}
	}
	return items, ver, nil
}

// Entries returns every entry stored for user, hidden ones included,
// sorted by JID: what the presence module needs to broadcast, probe and
// redeliver pending requests with one read.
func (s *Store) Entries(ctx context.Context, user xmpp.JID) ([]Item, error) {
	prefix := itemPrefix(user)
	var out []Item
	err := s.be.Scan(ctx, prefix, nil, 0, func(k, v []byte) error {
		contact, err := xmpp.ParseJID(string(k[len(prefix):]))
		if err != nil {
			return fmt.Errorf("roster: bad key %q: %w", k, err)
		}
		it, err := decode(contact, v)
		if err != nil {
			return err
		}
		out = append(out, it)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("roster: scan roster of %s: %w", user, err)
	}
	return out, nil
}

// Version returns the current roster version of user ("0" for a roster
// never written).
func (s *Store) Version(ctx context.Context, user xmpp.JID) (string, error) {
	n, err := s.counter(ctx, user)
	return strconv.FormatUint(n, 10), err
}

func (s *Store) counter(ctx context.Context, user xmpp.JID) (uint64, error) {
	b, err := s.be.Get(ctx, verKey(user))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("roster: get version of %s: %w", user, err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("roster: version of %s: %d bytes", user, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// nextCounter returns the version after n. A roster's first version is
// random rather than 1, so that an account deleted and created again
// never repeats a version a client may still have cached.
func nextCounter(n uint64) uint64 {
	if n == 0 {
		return 1 + rand.Uint64N(1<<40)
	}
	return n + 1
}

// Put stores it (it.JID is the contact) as user's entry, replacing what was
// there, and returns the roster version. The version changes, in the same
// batch, only if the roster as clients see it changes. Use Update to
// change some fields of an entry.
func (s *Store) Put(ctx context.Context, user xmpp.JID, it Item) (string, error) {
	c, err := s.Update(ctx, user, it.JID, func(cur *Item, _ bool) bool {
		*cur = it
		return true
	})
	return c.Version, err
}

// Remove deletes user's entry for contact and returns the roster version.
// Removing a missing entry is not an error.
func (s *Store) Remove(ctx context.Context, user, contact xmpp.JID) (string, error) {
	mu := lockUser(user)
	mu.Lock()
	defer mu.Unlock()
	old, existed, err := s.entry(ctx, user, contact)
	if err != nil {
		return "", err
	}
	n, err := s.counter(ctx, user)
	if err != nil {
		return "", err
	}
	if !existed {
		return strconv.FormatUint(n, 10), nil
	}
	var b storage.Batch
	b.Delete(itemKey(user, contact))
	if old.listed() {
		n = nextCounter(n)
		b.Put(verKey(user), binary.BigEndian.AppendUint64(nil, n))
	}
	if err := s.be.Write(ctx, &b); err != nil {
		return "", fmt.Errorf("roster: remove %s of %s: %w", contact, user, err)
	}
	return strconv.FormatUint(n, 10), nil
}

// Update reads user's entry for contact, lets f change it and stores the
// result atomically with respect to every other change of user's roster.
// f gets the stored entry, or a new visible one with subscription none
// (exists false); it returns false to leave the store untouched. A hidden
// entry left with nothing pending is deleted. f runs with the user's lock
// held: it must not call the Store.
func (s *Store) Update(ctx context.Context, user, contact xmpp.JID, f func(it *Item, exists bool) bool) (Change, error) {
	user, contact = user.Bare(), contact.Bare()
	if user.IsZero() || contact.IsZero() {
		return Change{}, errors.New("roster: update needs a user and a contact")
	}
	mu := lockUser(user)
	mu.Lock()
	defer mu.Unlock()
	old, existed, err := s.entry(ctx, user, contact)
	if err != nil {
		return Change{}, err
	}
	n, err := s.counter(ctx, user)
	if err != nil {
		return Change{}, err
	}
	cur := old
	if !existed {
		cur = Item{JID: contact}
	}
	cur.Groups = append([]string(nil), cur.Groups...)
	c := Change{Item: old, Existed: existed, Exists: existed, Version: strconv.FormatUint(n, 10)}
	if !f(&cur, existed) {
		return c, nil
	}
	cur.JID = contact
	cur.Subscription &= Both
	if !cur.PendingIn {
		cur.Request = nil
	}
	var b storage.Batch
	c.Exists = !cur.vacant()
	if c.Exists {
		v, err := encode(cur)
		if err != nil {
			return Change{}, fmt.Errorf("roster: encode %s of %s: %w", contact, user, err)
		}
		b.Put(itemKey(user, contact), v)
		c.Item = cur
	} else {
		b.Delete(itemKey(user, contact))
		c.Item = Item{}
	}
	before := existed && old.listed()
	after := c.Exists && cur.listed()
	switch {
	case before && after:
		c.Push = !sameView(old, cur)
	default:
		c.Push = before || after
		c.Removed = before
	}
	if c.Removed {
		c.Item = old
	}
	if c.Push {
		n = nextCounter(n)
		b.Put(verKey(user), binary.BigEndian.AppendUint64(nil, n))
		c.Version = strconv.FormatUint(n, 10)
	}
	if err := s.be.Write(ctx, &b); err != nil {
		return Change{}, fmt.Errorf("roster: store %s of %s: %w", contact, user, err)
	}
	return c, nil
}

// DeleteAll removes user's roster and version (account deletion).
func (s *Store) DeleteAll(ctx context.Context, user xmpp.JID) error {
	mu := lockUser(user)
	mu.Lock()
	defer mu.Unlock()
	var b storage.Batch
	b.DeletePrefix(itemPrefix(user))
	b.Delete(verKey(user))
	if err := s.be.Write(ctx, &b); err != nil {
		return fmt.Errorf("roster: delete roster of %s: %w", user, err)
	}
	return nil
}

// Push sends a roster push of it (or of its removal) to every interested
// resource of user, with the current roster version (RFC 6121 §2.1.6).
func (s *Store) Push(ctx context.Context, h modules.Host, user xmpp.JID, it Item, removed bool) {
	ver, err := s.Version(ctx, user)
	if err != nil {
		h.Logger().Warn("roster push without version", "user", user, "err", err)
	}
	s.push(ctx, h, user, it, removed, ver)
}

// PushChange pushes c to user's interested resources if the roster as
// clients see it changed, with the version of the change itself.
func (s *Store) PushChange(ctx context.Context, h modules.Host, user xmpp.JID, c Change) {
	if c.Push {
		s.push(ctx, h, user, c.Item, c.Removed, c.Version)
	}
}

var pushID atomic.Uint64

func (s *Store) push(ctx context.Context, h modules.Host, user xmpp.JID, it Item, removed bool, ver string) {
	if it.Hidden && !removed {
		return
	}
	iq := &xmpp.Stanza{
		Kind:    xmpp.KindIQ,
		Name:    "iq",
		Space:   xmpp.NSClient,
		Type:    "set",
		From:    user.Bare(),
		Payload: xml.Name{Space: NS, Local: "query"},
		Inner:   appendQuery(nil, ver, []Item{it}, removed),
	}
	for _, sess := range h.Sessions().Resources(user.Bare()) {
		if !sess.Interested() {
			continue
		}
		iq.To = sess.JID()
		iq.ID = "push-" + strconv.FormatUint(pushID.Add(1), 36)
		h.Deliver(ctx, iq.To, iq)
	}
}
