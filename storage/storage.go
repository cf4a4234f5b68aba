// Package storage defines the Backend every persistent part of Parley writes
// through: a small ordered key-value store plus append-only logs, with an
// atomic, durable batch. Modules own their key layouts (in their store.go);
// backends know nothing of features.
//
// Backends register themselves by name (Register) and are chosen by the
// "storage" block of the configuration. Every backend passes the conformance
// suite in storage/storagetest.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("storage: not found")

// ErrClosed is returned by every method once Close has been called.
var ErrClosed = errors.New("storage: closed")

// ErrLogName is returned (wrapped) by Write and Range for a log name that
// contains a 0x00 byte: backends may use 0x00 to end a log name in their
// key layout, so no backend accepts one.
var ErrLogName = errors.New("storage: log name contains a 0x00 byte")

// Backend is an ordered key-value store with append-only logs.
//
// All methods are safe for concurrent use. A Write returns only once its
// batch is durable (for the embedded store: its write-ahead log fsynced);
// backends group concurrent Writes into one commit. Slices passed to
// callbacks are valid only during the call (a backend may reuse them for the
// next record): copy what you keep.
//
// Plain keys and log records live in separate spaces: a Scan never returns
// log records, and a key never appears in a log. One Scan or Range reads one
// consistent state: it sees each batch wholly or not at all.
type Backend interface {
	// Get returns a copy of the value stored at key, or ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)

	// Scan calls fn for keys with the given prefix in ascending order,
	// starting at start (inclusive; nil means the first key of the
	// prefix), at most limit times (0: no limit). An error from fn stops
	// the scan and is returned.
	Scan(ctx context.Context, prefix, start []byte, limit int, fn func(key, val []byte) error) error

	// Range calls fn for the records of log with from <= id <= to, in
	// ascending id order (descending if reverse), at most limit times
	// (0: no limit); with reverse and a limit it returns the newest
	// records. A log name must not contain a 0x00 byte (ErrLogName).
	Range(ctx context.Context, log []byte, from, to uint64, limit int, reverse bool, fn func(id uint64, rec []byte) error) error

	// Write applies b atomically and durably: all of its operations or
	// none, in their order within b. An empty batch is a no-op. A ctx done
	// before the commit fails the Write with ctx.Err() and writes nothing.
	Write(ctx context.Context, b *Batch) error

	// Close flushes and releases the backend.
	Close() error
}

// OpKind says what one batch operation does.
type OpKind uint8

// Batch operation kinds.
const (
	OpPut OpKind = iota + 1
	OpDelete
	OpDeletePrefix // every key with Key as prefix, and every log whose name has it
	OpAppend       // a record to log Key with id ID; idempotent on (Key, ID)
)

// Op is one operation of a Batch.
type Op struct {
	Kind  OpKind
	Key   []byte // key, prefix or log name
	ID    uint64 // OpAppend only
	Value []byte // OpPut and OpAppend
}

// Batch collects operations that commit together. The zero value is an
// empty batch. Byte slices are referenced, not copied: do not modify them
// until Write returns.
type Batch struct {
	Ops []Op
}

// Put sets key to val.
func (b *Batch) Put(key, val []byte) { b.Ops = append(b.Ops, Op{Kind: OpPut, Key: key, Value: val}) }

// Delete removes key; deleting a missing key is not an error.
func (b *Batch) Delete(key []byte) { b.Ops = append(b.Ops, Op{Kind: OpDelete, Key: key}) }

// DeletePrefix removes every key and every log record under prefix.
func (b *Batch) DeletePrefix(prefix []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpDeletePrefix, Key: prefix})
}

// Append adds rec to log under id. Appending an id that exists already
// replaces nothing and is not an error, so a retried batch is harmless.
// log must not contain a 0x00 byte (Write fails with ErrLogName).
func (b *Batch) Append(log []byte, id uint64, rec []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpAppend, Key: log, ID: id, Value: rec})
}

// Len returns the number of operations.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() { clear(b.Ops); b.Ops = b.Ops[:0] }

// Put writes one key in a batch of its own.
func Put(ctx context.Context, be Backend, key, val []byte) error {
	var b Batch
	b.Put(key, val)
	return be.Write(ctx, &b)
}

// Delete removes one key in a batch of its own.
func Delete(ctx context.Context, be Backend, key []byte) error {
	var b Batch
	b.Delete(key)
	return be.Write(ctx, &b)
}

// Options are what a backend is opened with.
type Options struct {
	// Dir is the server's data directory, for backends that keep files.
	Dir string
	// Config is the backend's own block of the configuration (may be nil),
	// to be decoded strictly with conf.Decode.
	Config *yaml.Node
	// MaxOpenFiles bounds the files the backend may hold open (0: its default).
	MaxOpenFiles int
	// Logger receives the backend's own log lines (nil: slog.Default()).
	Logger *slog.Logger
	// OnCommit, if set, is called after each successful non-empty Write
	// with the batch's operation count and the Write's latency (including
	// the wait for durability), for metrics. It must be fast and safe for
	// concurrent use.
	OnCommit func(ops int, d time.Duration)
}

// OpenFunc opens a backend.
type OpenFunc func(ctx context.Context, opts Options) (Backend, error)

var (
	mu       sync.Mutex
	backends = map[string]OpenFunc{}
)

// Register makes a backend available under name. It panics on a duplicate
// or empty name: that is a programming error, found at init.
func Register(name string, open OpenFunc) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || open == nil {
		panic("storage: Register needs a name and an OpenFunc")
	}
	if _, dup := backends[name]; dup {
		panic("storage: backend registered twice: " + name)
	}
	backends[name] = open
}

// Open opens the backend registered under name.
func Open(ctx context.Context, name string, opts Options) (Backend, error) {
	mu.Lock()
	open, ok := backends[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("storage: unknown backend %q (have %v)", name, Names())
	}
	return open(ctx, opts)
}

// Names lists the registered backends, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
