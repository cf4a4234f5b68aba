package moduletest

import (
	"bytes"
	"context"
	"encoding/binary"
	"sort"
	"sync"

	"github.com/parley-im/parley/storage"
)

// MemStore is an in-memory storage.Backend for module tests. It keeps logs
// as keys "<log>\x00<id, 8 bytes big-endian>" in the same ordered map, which
// is enough for tests; real backends pass storage/storagetest.
type MemStore struct {
	mu   sync.RWMutex
	keys []string // sorted
	vals map[string][]byte
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{vals: map[string][]byte{}} }

var _ storage.Backend = (*MemStore)(nil)

// Get implements storage.Backend.
func (m *MemStore) Get(_ context.Context, key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[string(key)]
	if !ok || bytes.HasPrefix(key, logMark(nil)) {
		return nil, storage.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Scan implements storage.Backend.
func (m *MemStore) Scan(_ context.Context, prefix, start []byte, limit int, fn func(k, v []byte) error) error {
	m.mu.RLock()
	type kv struct{ k, v []byte }
	var out []kv
	from := string(prefix)
	if start != nil && string(start) > from {
		from = string(start)
	}
	i := sort.SearchStrings(m.keys, from)
	for ; i < len(m.keys); i++ {
		k := m.keys[i]
		if !bytes.HasPrefix([]byte(k), prefix) {
			break
		}
		if bytes.HasPrefix([]byte(k), logMark(nil)) {
			continue
		}
		out = append(out, kv{[]byte(k), bytes.Clone(m.vals[k])})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	m.mu.RUnlock()
	for _, e := range out {
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// Range implements storage.Backend.
func (m *MemStore) Range(_ context.Context, log []byte, from, to uint64, limit int, reverse bool, fn func(id uint64, rec []byte) error) error {
	m.mu.RLock()
	type rec struct {
		id uint64
		v  []byte
	}
	var out []rec
	prefix := string(logKey(log, 0)[:len(logMark(log))])
	i := sort.SearchStrings(m.keys, string(logKey(log, from)))
	for ; i < len(m.keys); i++ {
		k := m.keys[i]
		if len(k) != len(prefix)+8 || k[:len(prefix)] != prefix {
			break
		}
		id := binary.BigEndian.Uint64([]byte(k[len(prefix):]))
		if id > to {
			break
		}
		out = append(out, rec{id, bytes.Clone(m.vals[k])})
	}
	m.mu.RUnlock()
	if reverse {
		for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
			out[l], out[r] = out[r], out[l]
		}
	}
	for n, e := range out {
		if limit > 0 && n == limit {
			break
		}
		if err := fn(e.id, e.v); err != nil {
			return err
		}
	}
	return nil
}

// Write implements storage.Backend.
func (m *MemStore) Write(_ context.Context, b *storage.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range b.Ops {
		switch op.Kind {
		case storage.OpPut:
			m.put(string(op.Key), op.Value)
		case storage.OpDelete:
			m.del(string(op.Key))
		case storage.OpDeletePrefix:
			for _, p := range []string{string(op.Key), string(logMark(op.Key))} {
				i := sort.SearchStrings(m.keys, p)
				for i < len(m.keys) && bytes.HasPrefix([]byte(m.keys[i]), []byte(p)) {
					m.del(m.keys[i])
				}
			}
		case storage.OpAppend:
			k := string(logKey(op.Key, op.ID))
			if _, ok := m.vals[k]; !ok {
				m.put(k, op.Value)
			}
		}
	}
	return nil
}

// Close implements storage.Backend.
func (m *MemStore) Close() error { return nil }

func (m *MemStore) put(k string, v []byte) {
	if _, ok := m.vals[k]; !ok {
		i := sort.SearchStrings(m.keys, k)
		m.keys = append(m.keys, "")
		copy(m.keys[i+1:], m.keys[i:])
		m.keys[i] = k
	}
	m.vals[k] = bytes.Clone(v)
}

func (m *MemStore) del(k string) {
	if _, ok := m.vals[k]; !ok {
		return
	}
	delete(m.vals, k)
	i := sort.SearchStrings(m.keys, k)
	m.keys = append(m.keys[:i], m.keys[i+1:]...)
}

// logMark is the prefix of every record key of log: "\xff log \x00".
func logMark(log []byte) []byte {
	k := make([]byte, 0, len(log)+2)
	k = append(k, 0xff)
	k = append(k, log...)
	if log != nil {
		k = append(k, 0)
	}
	return k
}

func logKey(log []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(logMark(log), id)
}
