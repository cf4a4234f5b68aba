// Package embedded is Parley's default storage backend: a Pebble database
// (github.com/cockroachdb/pebble) in <data_dir>/store, registered as
// "embedded". It needs nothing set up and keeps one machine's data.
//
// Every Write is one Pebble batch committed with pebble.Sync: it returns
// once the write-ahead log is fsynced. Pebble's commit pipeline already
// groups concurrent synced batches into one WAL write and one fsync, so
// many writers in parallel cost far fewer fsyncs than writes (see
// BenchmarkAppendGroupCommit); the backend adds no queue of its own.
//
// Plain keys and log records are kept in two disjoint key spaces (see
// keys.go). Appends are Pebble merges with a keep-the-first operator, so an
// append of an existing (log, id) keeps the first record without a read
// before the write. DeletePrefix is two range deletions.
//
// Configuration (the storage block's "embedded" options):
//
//	cache_mb: 64      # block cache, MiB
//	memtable_mb: 16   # memtable size, MiB
//	sync: true        # fsync before a Write returns; false is UNSAFE
//
// The store holds at most storage.Options.MaxOpenFiles files open, 256 by
// default and at most: the process has 20,000 descriptors for everything,
// and Pebble's own default of 1,000 would take too many of them.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/storage"
)

func init() {
	storage.Register("embedded", Open)
}

// MaxOpenFiles is the default and the cap of the files the store holds
// open.
const MaxOpenFiles = 256

// Config is the backend's block of the configuration.
type Config struct {
	// CacheMB is the size of the block cache in MiB (default 64; 0 turns
	// caching off).
	CacheMB int `yaml:"cache_mb"`
	// MemtableMB is the size of one memtable in MiB (default 16). Larger
	// memtables mean fewer, larger flushes and a longer replay after a
	// crash.
	MemtableMB int `yaml:"memtable_mb"`
	// Sync makes every Write wait until its batch is fsynced (default
	// true). false is UNSAFE: a Write returns before its data is on disk,
	// and a crash or power loss forgets acknowledged messages. It is meant
	// for tests and benchmarks only.
	Sync bool `yaml:"sync"`
}

// DefaultConfig returns the configuration used for keys the block leaves
// out.
func DefaultConfig() Config { return Config{CacheMB: 64, MemtableMB: 16, Sync: true} }

// ErrInUse is matched (errors.Is) by the error of opening a store that
// another process, or another Open in this one, holds.
var ErrInUse = errors.New("embedded: store is in use")

// inUseError says which store is locked, and keeps the lock's own error.
type inUseError struct {
	dir   string
	cause error
}

func (e *inUseError) Error() string {
	return fmt.Sprintf("embedded: store %s is in use by another process (is parley serve running?)", e.dir)
}

func (e *inUseError) Is(target error) bool { return target == ErrInUse }

func (e *inUseError) Unwrap() error { return e.cause }

// Open opens (creating it if needed) the store in <opts.Dir>/store on the
// real file system.
func Open(ctx context.Context, opts storage.Options) (storage.Backend, error) {
	if opts.Dir == "" {
		return nil, errors.New("embedded: no data directory")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return OpenFS(vfs.Default, opts.Dir, opts)
}

// OpenFS opens (creating it if needed) the store in <dir>/store on fs; dir
// takes the place of opts.Dir. Tests use it with vfs.NewMem() or
// vfs.NewStrictMem().
func OpenFS(fs vfs.FS, dir string, opts storage.Options) (storage.Backend, error) {
	set, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	cfg, logger := set.Config, set.logger
	path := fs.PathJoin(dir, "store")
	if err := mkdirDurable(fs, path); err != nil {
		return nil, fmt.Errorf("embedded: create %s: %w", path, err)
	}
	lock, err := pebble.LockDirectory(path, fs)
	if err != nil {
		if lockHeld(err) {
			return nil, &inUseError{dir: path, cause: err}
		}
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	cache := pebble.NewCache(int64(cfg.CacheMB) << 20)
	defer cache.Unref() // the DB holds its own reference
	po := &pebble.Options{
		FS:                 fs,
		Cache:              cache,
		MemTableSize:       uint64(cfg.MemtableMB) << 20,
		MaxOpenFiles:       set.maxOpen,
		Lock:               lock,
		Logger:             slogger{logger},
		EventListener:      eventListener(logger),
		FormatMajorVersion: pebble.FormatNewest,
		Merger: &pebble.Merger{
			Name: keepFirstName,
			Merge: func(key, value []byte) (pebble.ValueMerger, error) {
				return newKeepFirst(key, value)
			},
		},
	}
	po.WithFSDefaults() // disk-health checks: DiskSlow events
	db, err := pebble.Open(path, po)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	s := &store{
		db:       db,
		lock:     lock,
		dir:      path,
		wo:       pebble.Sync,
		onCommit: opts.OnCommit,
		drained:  make(chan struct{}),
	}
	if !cfg.Sync {
		s.wo = pebble.NoSync
		logger.Warn("sync is off: writes are not durable when they return; use only for tests and benchmarks", "dir", path)
	}
	return s, nil
}

// lockHeld reports whether err, from taking Pebble's LOCK file, says that
// someone holds it: fcntl's EAGAIN or EACCES (not an EACCES from creating
// the file, which is a permission problem), or Pebble's refusal to lock a
// file this process holds already.
func lockHeld(err error) bool {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// settings are a store's options with defaults and caps applied.
type settings struct {
	Config
	maxOpen int
	logger  *slog.Logger
}

// resolve decodes and checks the configuration block and applies the
// defaults and the cap on open files.
func resolve(opts storage.Options) (settings, error) {
	set := settings{Config: DefaultConfig(), maxOpen: opts.MaxOpenFiles, logger: opts.Logger}
	if err := conf.Decode(opts.Config, &set.Config); err != nil {
		return settings{}, fmt.Errorf("embedded: config: %w", err)
	}
	if set.CacheMB < 0 {
		return settings{}, fmt.Errorf("embedded: config: cache_mb must be 0 or more, not %d", set.CacheMB)
	}
	if set.MemtableMB < 1 || set.MemtableMB > 4095 {
		return settings{}, fmt.Errorf("embedded: config: memtable_mb must be 1 to 4095, not %d", set.MemtableMB)
	}
	if set.maxOpen <= 0 || set.maxOpen > MaxOpenFiles {
		set.maxOpen = MaxOpenFiles
	}
	if set.logger == nil {
		set.logger = slog.Default()
	}
	set.logger = set.logger.With("component", "storage/embedded")
	return set, nil
}

// mkdirDurable creates path and any missing parents, and syncs the
// directory above each one it created, so that the new directories survive
// a crash (Pebble syncs the store directory itself, not its parent).
func mkdirDurable(fs vfs.FS, path string) error {
	var created []string
	for p := path; ; {
		_, err := fs.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		created = append(created, p)
		parent := fs.PathDir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if len(created) == 0 {
		return nil
	}
	if err := fs.MkdirAll(path, 0o700); err != nil {
		return err
	}
	for _, p := range created {
		d, err := fs.OpenDir(fs.PathDir(p))
		if err != nil {
			return err
		}
		err = errors.Join(d.Sync(), d.Close())
		if err != nil {
			return err
		}
	}
	return nil
}

// store is the storage.Backend on one Pebble database.
type store struct {
	db       *pebble.DB
	lock     *pebble.Lock
	dir      string
	wo       *pebble.WriteOptions
	onCommit func(ops int, d time.Duration)

	// state counts the operations in flight; closedBit is set by Close.
	// An operation that finds the bit set backs out with ErrClosed; the
	// last one out after Close closes drained.
	state     atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

const closedBit = 1 << 62

// acquire registers an operation, or returns ErrClosed.
func (s *store) acquire() error {
	if s.state.Add(1)&closedBit != 0 {
		s.release()
		return storage.ErrClosed
	}
	return nil
}

func (s *store) release() {
	if s.state.Add(-1) == closedBit {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}

// ctxEvery is how many records Scan and Range read between looks at ctx.
const ctxEvery = 64

// Get implements storage.Backend.
func (s *store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	kb := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(kb)
	*kb = appendKey((*kb)[:0], key)
	v, closer, err := s.db.Get(*kb)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("embedded: get %q: %w", key, err)
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, closer.Close() // Pebble holds the key until here
}

// keyBufs holds buffers for the Pebble keys of Gets.
var keyBufs = sync.Pool{New: func() any { return new([]byte) }}

// Scan implements storage.Backend. The iterator reads one snapshot, so a
// Scan sees each batch wholly or not at all.
func (s *store) Scan(ctx context.Context, prefix, start []byte, limit int, fn func(key, val []byte) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	bounds := make([]byte, 0, 2*(1+len(prefix))+len(start))
	bounds = appendKey(bounds, prefix)
	upper := prefixEnd(appendKey(bounds[len(bounds):], prefix))
	lower := bounds[:1+len(prefix)]
	if bytes.Compare(start, prefix) > 0 {
		lower = appendKey(nil, start)
	}
	if bytes.Compare(lower, upper) >= 0 {
		return nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("embedded: scan %q: %w", prefix, err)
	}
	var buf []byte
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("embedded: scan %q: %w", prefix, err)
		}
		k := it.Key()[1:]
		buf = append(append(buf[:0], k...), v...)
		if err := fn(buf[:len(k):len(k)], buf[len(k):]); err != nil {
			it.Close()
			return err
		}
		if n++; n == limit {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("embedded: scan %q: %w", prefix, err)
	}
	return nil
}

// Range implements storage.Backend.
func (s *store) Range(ctx context.Context, log []byte, from, to uint64, limit int, reverse bool, fn func(id uint64, rec []byte) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if !validLogName(log) {
		return fmt.Errorf("embedded: range %q: %w", log, storage.ErrLogName)
	}
	if from > to {
		return nil
	}
	n := logKeyLen(log)
	lower := appendLogKey(make([]byte, 0, 2*n), log, from)
	upper := prefixEnd(appendLogKey(lower[n:], log, to))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("embedded: range %q: %w", log, err)
	}
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	var buf []byte
	count := 0
	for ok := first(); ok; ok = next() {
		if count%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("embedded: range %q: %w", log, err)
		}
		k := it.Key()
		id := binary.BigEndian.Uint64(k[len(k)-8:])
		buf = append(buf[:0], v...)
		if err := fn(id, buf); err != nil {
			it.Close()
			return err
		}
		if count++; count == limit {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("embedded: range %q: %w", log, err)
	}
	return nil
}

// Write implements storage.Backend: one Pebble batch, committed with Sync
// (unless sync is off), so it is atomic and durable when Write returns.
func (s *store) Write(ctx context.Context, b *storage.Batch) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	begin := time.Now()
	size := 0
	for _, op := range b.Ops {
		switch op.Kind {
		case storage.OpPut, storage.OpDelete, storage.OpDeletePrefix:
		case storage.OpAppend:
			if !validLogName(op.Key) {
				return fmt.Errorf("embedded: append to %q: %w", op.Key, storage.ErrLogName)
			}
		default:
			return fmt.Errorf("embedded: unknown batch op kind %d", op.Kind)
		}
		size += 2*len(op.Key) + len(op.Value) + 24
	}
	pb := s.db.NewBatchWithSize(size)
	defer pb.Close()
	var bounds []byte
	for _, op := range b.Ops {
		var err error
		switch op.Kind {
		case storage.OpPut:
			d := pb.SetDeferred(1+len(op.Key), len(op.Value))
			appendKey(d.Key[:0], op.Key)
			copy(d.Value, op.Value)
			err = d.Finish()
		case storage.OpDelete:
			d := pb.DeleteDeferred(1 + len(op.Key))
			appendKey(d.Key[:0], op.Key)
			err = d.Finish()
		case storage.OpDeletePrefix:
			bounds, err = deletePrefix(pb, bounds, op.Key)
		case storage.OpAppend:
			d := pb.MergeDeferred(logKeyLen(op.Key), len(op.Value))
			appendLogKey(d.Key[:0], op.Key, op.ID)
			copy(d.Value, op.Value)
			err = d.Finish()
		}
		if err != nil {
			return fmt.Errorf("embedded: build batch: %w", err)
		}
	}
	if err := pb.Commit(s.wo); err != nil {
		return fmt.Errorf("embedded: commit %d ops: %w", b.Len(), err)
	}
	if s.onCommit != nil {
		s.onCommit(b.Len(), time.Since(begin))
	}
	return nil
}

// deletePrefix adds to pb the range deletions of every key and every log
// under prefix, using buf for the bounds, and returns buf for reuse. A log
// name holds no 0x00, so a prefix with one matches no log.
func deletePrefix(pb *pebble.Batch, buf, prefix []byte) ([]byte, error) {
	spaces := []byte{spaceKey, spaceLog}
	if !validLogName(prefix) {
		spaces = spaces[:1]
	}
	for _, sp := range spaces {
		buf = append(append(buf[:0], sp), prefix...)
		n := len(buf)
		buf = append(buf, buf[:n]...)
		// DeleteRange copies its arguments into the batch.
		if err := pb.DeleteRange(buf[:n], prefixEnd(buf[n:]), nil); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// Close implements storage.Backend. It waits for operations in flight,
// flushes the memtable (so the next open replays no log) and closes the
// database and its lock. Later calls return nil. Close must not be
// called from a Scan or Range callback: it would wait for that very call.
func (s *store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		if s.state.Or(closedBit) == 0 {
			s.drainOnce.Do(func() { close(s.drained) })
		}
		<-s.drained
		err := s.db.Flush()
		err = errors.Join(err, s.db.Close(), s.lock.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("embedded: close %s: %w", s.dir, err)
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

var _ storage.Backend = (*store)(nil)
