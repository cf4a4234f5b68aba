package offline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Storage layout, per user (a bare JID has no '/', so one user's prefix
// never covers another's):
//
//	offline/<user>/m/<id, 8 bytes big-endian>  one stored message (record, JSON)
//	offline/<user>/n                           "<count> <last id>" (decimal)
//
// Ids grow with time and past the last one stored, so a prefix scan
// returns messages in arrival order even after the clock went back.
// Messages are keys rather than a storage log because replay deletes
// exactly the ones it delivered, and a log can only be dropped whole.

func userPrefix(user xmpp.JID) []byte { return []byte("offline/" + user.Bare().String() + "/") }

func msgPrefix(user xmpp.JID) []byte { return append(userPrefix(user), "m/"...) }

func msgKey(user xmpp.JID, id uint64) []byte {
	return binary.BigEndian.AppendUint64(msgPrefix(user), id)
}

func countKey(user xmpp.JID) []byte { return append(userPrefix(user), 'n') }

// record is a stored message: the stanza's header and content.
type record struct {
	Type  string      `json:"t,omitempty"`
	ID    string      `json:"i,omitempty"`
	From  string      `json:"f,omitempty"`
	To    string      `json:"o,omitempty"`
	Lang  string      `json:"l,omitempty"`
	Attrs [][2]string `json:"a,omitempty"`
	Inner string      `json:"x,omitempty"`
}

func encode(st *xmpp.Stanza) ([]byte, error) {
	r := record{Type: st.Type, ID: st.ID, From: st.From.String(), To: st.To.String(), Lang: st.Lang, Inner: string(st.Inner)}
	for _, a := range st.Attrs {
		r.Attrs = append(r.Attrs, [2]string{a.Name, a.Value})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&r); err != nil {
		return nil, fmt.Errorf("offline: encode message: %w", err)
	}
	return b.Bytes(), nil
}

func decode(v []byte) (*xmpp.Stanza, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("offline: decode message: %w", err)
	}
	st := &xmpp.Stanza{
		Kind: xmpp.KindMessage, Name: "message", Space: xmpp.NSClient,
		Type: r.Type, ID: r.ID, Lang: r.Lang, Inner: []byte(r.Inner),
	}
	var err error
	if r.From != "" {
		if st.From, err = xmpp.ParseJID(r.From); err != nil {
			return nil, fmt.Errorf("offline: decode message: from: %w", err)
		}
	}
	if r.To != "" {
		if st.To, err = xmpp.ParseJID(r.To); err != nil {
			return nil, fmt.Errorf("offline: decode message: to: %w", err)
		}
	}
	for _, a := range r.Attrs {
		st.Attrs = append(st.Attrs, xmpp.Attr{Name: a[0], Value: a[1]})
	}
	return st, nil
}

// counter is the per-user count record.
type counter struct {
	n    int    // messages stored
	last uint64 // id of the newest
}

func (c counter) encode() []byte {
	b := strconv.AppendInt(nil, int64(c.n), 10)
	b = append(b, ' ')
	return strconv.AppendUint(b, c.last, 10)
}

// count reads user's counter.
func count(ctx context.Context, be storage.Backend, user xmpp.JID) (counter, error) {
	v, err := be.Get(ctx, countKey(user))
	if errors.Is(err, storage.ErrNotFound) {
		return counter{}, nil
	}
	if err != nil {
		return counter{}, fmt.Errorf("offline: count of %s: %w", user, err)
	}
	var c counter
	if _, err := fmt.Sscanf(string(v), "%d %d", &c.n, &c.last); err != nil {
		return counter{}, fmt.Errorf("offline: count of %s: %w", user, err)
	}
	return c, nil
}

// add stores st as message id of user, whose counter was c.
func add(ctx context.Context, be storage.Backend, user xmpp.JID, id uint64, st *xmpp.Stanza, c counter) error {
	rec, err := encode(st)
	if err != nil {
		return err
	}
	var b storage.Batch
	b.Put(msgKey(user, id), rec)
	b.Put(countKey(user), counter{n: c.n + 1, last: id}.encode())
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("offline: store message for %s: %w", user, err)
	}
	return nil
}

// stored is one message read back, with the key to delete it by.
type stored struct {
	key []byte
	st  *xmpp.Stanza
}

// messages returns user's stored messages, oldest first.
func messages(ctx context.Context, be storage.Backend, user xmpp.JID) ([]stored, error) {
	var out []stored
	err := be.Scan(ctx, msgPrefix(user), nil, 0, func(k, v []byte) error {
		st, err := decode(v)
		if err != nil {
			return err
		}
		out = append(out, stored{key: bytes.Clone(k), st: st})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("offline: read messages of %s: %w", user, err)
	}
	return out, nil
}

// remove deletes delivered messages in one batch; c is the counter
// afterwards.
func remove(ctx context.Context, be storage.Backend, user xmpp.JID, delivered []stored, c counter) error {
	var b storage.Batch
	for _, m := range delivered {
		b.Delete(m.key)
	}
	b.Put(countKey(user), c.encode())
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("offline: delete delivered messages of %s: %w", user, err)
	}
	return nil
}

// removeAll deletes everything stored for user.
func removeAll(ctx context.Context, be storage.Backend, user xmpp.JID) error {
	var b storage.Batch
	b.DeletePrefix(userPrefix(user))
	if err := be.Write(ctx, &b); err != nil {
		return fmt.Errorf("offline: delete messages of %s: %w", user, err)
	}
	return nil
}
