package vcard

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Storage layout: one key per user holding the vCard element exactly as
// set (made self-contained, see pep.AppendElement):
//
//	vcard/<user bare JID>

func key(user xmpp.JID) []byte { return []byte("vcard/" + user.Bare().String()) }

// load returns user's stored vCard; ok is false if there is none.
func load(ctx context.Context, be storage.Backend, user xmpp.JID) (v []byte, ok bool, err error) {
	v, err = be.Get(ctx, key(user))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("vcard: load %s: %w", user, err)
	}
	return v, true, nil
}

func save(ctx context.Context, be storage.Backend, user xmpp.JID, v []byte) error {
	if err := storage.Put(ctx, be, key(user), v); err != nil {
		return fmt.Errorf("vcard: save %s: %w", user, err)
	}
	return nil
}

func remove(ctx context.Context, be storage.Backend, user xmpp.JID) error {
	if err := storage.Delete(ctx, be, key(user)); err != nil {
		return fmt.Errorf("vcard: delete %s: %w", user, err)
	}
	return nil
}
