package moduletest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/storage"
)

// MemStore is an in-memory storage.Backend for module tests. It passes
// storage/storagetest, so a module that works on it works on the real
// backends. Internally it keeps one ordered map: plain keys as
// "\x00<key>" and log records as "\x01<log>\x00<id, 8 bytes big-endian>",
// the embedded store's layout. Like the real backends it hands callbacks
// slices that are reused for the next record: a module that keeps one
// without copying fails here as it would in production.
type MemStore struct {
	closed atomic.Bool

	mu   sync.RWMutex
	keys []string // sorted
	vals map[string][]byte
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{vals: map[string][]byte{}} }

var _ storage.Backend = (*MemStore)(nil)

// Key spaces of the internal map.
const (
	nsKey = 0x00
	nsLog = 0x01
)

// Get implements storage.Backend.
func (m *MemStore) Get(_ context.Context, key []byte) ([]byte, error) {
	if m.closed.Load() {
		return nil, storage.ErrClosed
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[string(spaced(nsKey, key))]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Scan implements storage.Backend. It reads under the lock and calls fn
// after releasing it, so fn may write to the store.
func (m *MemStore) Scan(_ context.Context, prefix, start []byte, limit int, fn func(k, v []byte) error) error {
	if m.closed.Load() {
		return storage.ErrClosed
	}
	from := spaced(nsKey, prefix)
	if bytes.Compare(start, prefix) > 0 {
		from = spaced(nsKey, start)
	}
	out := m.collect(string(from), string(successor(spaced(nsKey, prefix))), limit, false)
	var buf []byte
	for _, e := range out {
		k := e.k[1:]
		buf = append(append(buf[:0], k...), e.v...)
		if err := fn(buf[:len(k):len(k)], buf[len(k):]); err != nil {
			return err
		}
	}
	return nil
}

// Range implements storage.Backend.
func (m *MemStore) Range(_ context.Context, log []byte, from, to uint64, limit int, reverse bool, fn func(id uint64, rec []byte) error) error {
	if m.closed.Load() {
		return storage.ErrClosed
	}
	if bytes.IndexByte(log, 0) >= 0 {
		return fmt.Errorf("moduletest: range %q: %w", log, storage.ErrLogName)
	}
	if from > to {
		return nil
	}
	hi := string(successor(logKey(log, to)))
	out := m.collect(string(logKey(log, from)), hi, limit, reverse)
	var buf []byte
	for _, e := range out {
		id := binary.BigEndian.Uint64([]byte(e.k[len(e.k)-8:]))
		buf = append(buf[:0], e.v...)
		if err := fn(id, buf); err != nil {
			return err
		}
	}
	return nil
}

// memEntry is one entry of the internal map, as collect returns it.
type memEntry struct {
	k string
	v []byte
}

// collect returns the entries with lo <= key < hi in key order (reversed
// if reverse), at most limit of them (0: all).
func (m *MemStore) collect(lo, hi string, limit int, reverse bool) []memEntry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i := sort.SearchStrings(m.keys, lo)
	j := sort.SearchStrings(m.keys, hi)
	if i >= j {
		return nil
	}
	sel := m.keys[i:j]
	n := len(sel)
	if limit > 0 && limit < n {
		n = limit
	}
	out := make([]memEntry, n)
	for x := range n {
		k := sel[x]
		if reverse {
			k = sel[len(sel)-1-x]
		}
		out[x] = memEntry{k, m.vals[k]} // values are never mutated in place
	}
	return out
}

// Write implements storage.Backend.
func (m *MemStore) Write(ctx context.Context, b *storage.Batch) error {
	if m.closed.Load() {
		return storage.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, op := range b.Ops {
		switch op.Kind {
		case storage.OpPut, storage.OpDelete, storage.OpDeletePrefix:
		case storage.OpAppend:
			if bytes.IndexByte(op.Key, 0) >= 0 {
				return fmt.Errorf("moduletest: append to %q: %w", op.Key, storage.ErrLogName)
			}
		default:
			return fmt.Errorf("moduletest: unknown batch op kind %d", op.Kind)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range b.Ops {
		switch op.Kind {
		case storage.OpPut:
			m.put(string(spaced(nsKey, op.Key)), op.Value)
		case storage.OpDelete:
			m.del(string(spaced(nsKey, op.Key)))
		case storage.OpDeletePrefix:
			m.delRange(spaced(nsKey, op.Key))
			if bytes.IndexByte(op.Key, 0) < 0 { // no log name holds 0x00
				m.delRange(spaced(nsLog, op.Key))
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
func (m *MemStore) Close() error {
	m.closed.Store(true)
	return nil
}

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

// delRange removes every internal key with prefix p.
func (m *MemStore) delRange(p []byte) {
	i := sort.SearchStrings(m.keys, string(p))
	j := sort.SearchStrings(m.keys, string(successor(p)))
	for _, k := range m.keys[i:j] {
		delete(m.vals, k)
	}
	m.keys = append(m.keys[:i], m.keys[j:]...)
}

// spaced returns key in key space ns.
func spaced(ns byte, key []byte) []byte {
	return append([]byte{ns}, key...)
}

// logKey is the internal key of record id of log.
func logKey(log []byte, id uint64) []byte {
	k := append(spaced(nsLog, log), 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// successor returns the smallest key greater than every key with prefix p.
// p starts with a key-space byte below 0xff, so there always is one.
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for len(s) > 0 && s[len(s)-1] == 0xff {
		s = s[:len(s)-1]
	}
	s[len(s)-1]++
	return s
}
