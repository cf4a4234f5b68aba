package private

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Storage layout: one key per stored element, by its name and namespace
// (NUL cannot occur in XML, so it separates them unambiguously; a bare JID
// has no '/', so one user's prefix never covers another's):
//
//	private/<user bare JID>/<local name>\x00<namespace>
//
// The value is the element as set, made self-contained (see
// pep.AppendElement).

func userPrefix(user xmpp.JID) []byte { return []byte("private/" + user.Bare().String() + "/") }

func key(user xmpp.JID, local, ns string) []byte {
	k := append(userPrefix(user), local...)
	k = append(k, 0)
	return append(k, ns...)
}

// load returns the stored element; ok is false if there is none.
func load(ctx context.Context, be storage.Backend, user xmpp.JID, local, ns string) (v []byte, ok bool, err error) {
	v, err = be.Get(ctx, key(user, local, ns))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("private: load {%s}%s of %s: %w", ns, local, user, err)
	}
	return v, true, nil
}

// element is one child of a set, ready to store.
type element struct {
	local, ns string
	xml       []byte
}

// save stores elements in one batch.
func save(ctx context.Context, be storage.Backend, user xmpp.JID, els []element) error {
	var b storage.Batch
	for _, e := range els {
		b.Put(key(user, e.local, e.ns), e.xml)
	}
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("private: save for %s: %w", user, err)
	}
	return nil
}

func removeAll(ctx context.Context, be storage.Backend, user xmpp.JID) error {
	var b storage.Batch
	b.DeletePrefix(userPrefix(user))
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("private: delete data of %s: %w", user, err)
	}
	return nil
}
