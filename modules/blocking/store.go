package blocking

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Storage layout: one empty-valued key per blocked JID,
//
//	blocking/<user bare JID>/<blocked JID>
//
// A bare JID has no '/', so the prefix of one user never covers another's.

func userPrefix(user xmpp.JID) []byte {
	return []byte("blocking/" + user.Bare().String() + "/")
}

func itemKey(user, item xmpp.JID) []byte {
	return append(userPrefix(user), item.String()...)
}

// load reads user's block list from be.
func load(ctx context.Context, be storage.Backend, user xmpp.JID) (*List, error) {
	prefix := userPrefix(user)
	l := &List{items: map[string]struct{}{}}
	err := be.Scan(ctx, prefix, nil, 0, func(k, _ []byte) error {
		l.add(string(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blocking: load list of %s: %w", user, err)
	}
	return l, nil
}
