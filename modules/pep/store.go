package pep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Storage layout, per account (a bare JID has no '/', so one account's
// prefix never covers another's; node names may contain anything):
//
//	pep/<owner>/c/<node>  the node's configuration (NodeConfig, JSON)
//	pep/<owner>/i/<node>  its items, oldest first ([]storedItem, JSON)
//
// Configurations are scanned when a contact comes online, so they are
// kept apart from the items, which can be large (avatars).

func ownerPrefix(owner xmpp.JID) []byte { return []byte("pep/" + owner.Bare().String() + "/") }

func configPrefix(owner xmpp.JID) []byte { return append(ownerPrefix(owner), "c/"...) }

func configKey(owner xmpp.JID, node string) []byte { return append(configPrefix(owner), node...) }

func itemsKey(owner xmpp.JID, node string) []byte {
	return append(append(ownerPrefix(owner), "i/"...), node...)
}

// storedItem is one persisted item.
type storedItem struct {
	ID        string `json:"id"`
	Payload   string `json:"p"`            // self-contained XML element
	Published int64  `json:"t"`            // Unix milliseconds
	Publisher string `json:"by,omitempty"` // full JID of the publishing session
}

func (it storedItem) item() Item {
	return Item{ID: it.ID, Payload: []byte(it.Payload), Published: time.UnixMilli(it.Published)}
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// loadConfig reads a node's configuration; ok is false if the node does
// not exist.
func loadConfig(ctx context.Context, be storage.Backend, owner xmpp.JID, node string) (cfg NodeConfig, ok bool, err error) {
	v, err := be.Get(ctx, configKey(owner, node))
	if errors.Is(err, storage.ErrNotFound) {
		return NodeConfig{}, false, nil
	}
	if err == nil {
		err = json.Unmarshal(v, &cfg)
	}
	if err != nil {
		return NodeConfig{}, false, fmt.Errorf("pep: node %q of %s: %w", node, owner, err)
	}
	return cfg, true, nil
}

// loadItems reads a node's items, oldest first.
func loadItems(ctx context.Context, be storage.Backend, owner xmpp.JID, node string) ([]storedItem, error) {
	v, err := be.Get(ctx, itemsKey(owner, node))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	var items []storedItem
	if err == nil {
		err = json.Unmarshal(v, &items)
	}
	if err != nil {
		return nil, fmt.Errorf("pep: items of node %q of %s: %w", node, owner, err)
	}
	return items, nil
}

// saveNode writes a node's configuration and items in one batch.
func saveNode(ctx context.Context, be storage.Backend, owner xmpp.JID, node string, cfg NodeConfig, items []storedItem) error {
	c, err := marshal(cfg)
	if err != nil {
		return err
	}
	var b storage.Batch
	b.Put(configKey(owner, node), c)
	if len(items) == 0 {
		b.Delete(itemsKey(owner, node))
	} else {
		v, err := marshal(items)
		if err != nil {
			return err
		}
		b.Put(itemsKey(owner, node), v)
	}
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("pep: save node %q of %s: %w", node, owner, err)
	}
	return nil
}

// deleteNode removes a node and its items.
func deleteNode(ctx context.Context, be storage.Backend, owner xmpp.JID, node string) error {
	var b storage.Batch
	b.Delete(configKey(owner, node))
	b.Delete(itemsKey(owner, node))
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("pep: delete node %q of %s: %w", node, owner, err)
	}
	return nil
}

// nodes returns the configurations of all of owner's nodes.
func nodes(ctx context.Context, be storage.Backend, owner xmpp.JID) (map[string]NodeConfig, error) {
	prefix := configPrefix(owner)
	out := map[string]NodeConfig{}
	err := be.Scan(ctx, prefix, nil, 0, func(k, v []byte) error {
		var cfg NodeConfig
		if err := json.Unmarshal(v, &cfg); err != nil {
			return err
		}
		out[string(k[len(prefix):])] = cfg
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pep: nodes of %s: %w", owner, err)
	}
	return out, nil
}

// deleteAll removes every node of owner.
func deleteAll(ctx context.Context, be storage.Backend, owner xmpp.JID) error {
	var b storage.Batch
	b.DeletePrefix(ownerPrefix(owner))
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("pep: delete nodes of %s: %w", owner, err)
	}
	return nil
}
