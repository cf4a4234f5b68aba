// Package storagetest is the conformance suite every storage.Backend passes.
//
// A backend's test calls Run with a function that opens a fresh, empty
// backend for one subtest:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Backend {
//			be, err := Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return be
//		})
//	}
//
// Run closes every backend it opens (Close must be idempotent). The suite
// checks the contract written on storage.Backend and storage.Batch: reads,
// prefix and id bounds, ordering, idempotent appends, the separation of keys
// and logs, DeletePrefix, batch atomicity under concurrent readers,
// concurrent writers, copy semantics, ErrClosed and context cancellation.
// It is meant to stay fast (well under two seconds on the embedded store
// with fsync on), so it writes hundreds of batches, not millions.
package storagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/storage"
)

// Run runs the conformance suite against the backends open returns. open
// is called once per subtest and must return an empty backend.
func Run(t *testing.T, open func(t *testing.T) storage.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, be storage.Backend)
	}{
		{"Get", testGet},
		{"PutOverwrite", testPutOverwrite},
		{"Delete", testDelete},
		{"BatchOrder", testBatchOrder},
		{"ScanOrder", testScanOrder},
		{"ScanPrefixBounds", testScanPrefixBounds},
		{"ScanStart", testScanStart},
		{"ScanLimit", testScanLimit},
		{"ScanStopsOnError", testScanStopsOnError},
		{"Range", testRange},
		{"RangeStopsOnError", testRangeStopsOnError},
		{"AppendIdempotent", testAppendIdempotent},
		{"LogNames", testLogNames},
		{"KeysAndLogsSeparate", testKeysAndLogsSeparate},
		{"DeletePrefix", testDeletePrefix},
		{"BatchMany", testBatchMany},
		{"BatchAtomicUnderReaders", testBatchAtomicUnderReaders},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Copies", testCopies},
		{"LargeValue", testLargeValue},
		{"EmptyBatch", testEmptyBatch},
		{"CancelledWrite", testCancelledWrite},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := open(t)
			t.Cleanup(func() {
				if err := be.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.fn(t, be)
		})
	}
}

// kv is one key and value a Scan returned.
type kv struct{ k, v string }

// rec is one log record a Range returned.
type rec struct {
	id uint64
	v  string
}

func write(t *testing.T, be storage.Backend, b *storage.Batch) {
	t.Helper()
	if err := be.Write(context.Background(), b); err != nil {
		t.Fatalf("write %d ops: %v", b.Len(), err)
	}
}

func put(t *testing.T, be storage.Backend, k, v string) {
	t.Helper()
	if err := storage.Put(context.Background(), be, []byte(k), []byte(v)); err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
}

func appendRec(t *testing.T, be storage.Backend, log string, id uint64, v string) {
	t.Helper()
	var b storage.Batch
	b.Append([]byte(log), id, []byte(v))
	write(t, be, &b)
}

// get returns the value at k and whether it exists.
func get(t *testing.T, be storage.Backend, k string) (string, bool) {
	t.Helper()
	v, err := be.Get(context.Background(), []byte(k))
	if errors.Is(err, storage.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get %q: %v", k, err)
	}
	return string(v), true
}

func scan(t *testing.T, be storage.Backend, prefix, start string, limit int) []kv {
	t.Helper()
	var st []byte
	if start != "" {
		st = []byte(start)
	}
	var out []kv
	err := be.Scan(context.Background(), []byte(prefix), st, limit, func(k, v []byte) error {
		out = append(out, kv{string(k), string(v)})
		return nil
	})
	if err != nil {
		t.Fatalf("scan %q from %q: %v", prefix, start, err)
	}
	return out
}

func rangeLog(t *testing.T, be storage.Backend, log string, from, to uint64, limit int, reverse bool) []rec {
	t.Helper()
	var out []rec
	err := be.Range(context.Background(), []byte(log), from, to, limit, reverse, func(id uint64, r []byte) error {
		out = append(out, rec{id, string(r)})
		return nil
	})
	if err != nil {
		t.Fatalf("range %q [%d, %d]: %v", log, from, to, err)
	}
	return out
}

func keysOf(kvs []kv) []string {
	ks := make([]string, len(kvs))
	for i, e := range kvs {
		ks[i] = e.k
	}
	return ks
}

func idsOf(rs []rec) []uint64 {
	ids := make([]uint64, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids
}

func testGet(t *testing.T, be storage.Backend) {
	if _, err := be.Get(context.Background(), []byte("missing")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get missing key: err = %v, want ErrNotFound", err)
	}
	put(t, be, "k", "v")
	if v, ok := get(t, be, "k"); !ok || v != "v" {
		t.Fatalf("get k = %q, %v; want \"v\", true", v, ok)
	}
	// Neighbours of a stored key are not it.
	for _, k := range []string{"", "k\x00", "kk", "j"} {
		if _, ok := get(t, be, k); ok {
			t.Errorf("get %q found a value; only \"k\" is stored", k)
		}
	}
	put(t, be, "empty", "")
	if v, ok := get(t, be, "empty"); !ok || v != "" {
		t.Errorf("get of an empty value = %q, %v; want \"\", true", v, ok)
	}
}

func testPutOverwrite(t *testing.T, be storage.Backend) {
	put(t, be, "k", "first")
	put(t, be, "k", "second")
	if v, _ := get(t, be, "k"); v != "second" {
		t.Fatalf("after overwrite get = %q, want \"second\"", v)
	}
	if got := scan(t, be, "", "", 0); len(got) != 1 {
		t.Fatalf("after overwrite scan = %v, want one key", got)
	}
}

func testDelete(t *testing.T, be storage.Backend) {
	put(t, be, "a", "1")
	put(t, be, "b", "2")
	if err := storage.Delete(context.Background(), be, []byte("a")); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := get(t, be, "a"); ok {
		t.Error("deleted key still found")
	}
	if v, _ := get(t, be, "b"); v != "2" {
		t.Errorf("neighbour of a deleted key = %q, want \"2\"", v)
	}
	if err := storage.Delete(context.Background(), be, []byte("never-stored")); err != nil {
		t.Errorf("delete of a missing key: %v, want nil", err)
	}
}

// testBatchOrder checks that the operations of one batch apply in order.
func testBatchOrder(t *testing.T, be storage.Backend) {
	put(t, be, "gone/old", "x")
	var b storage.Batch
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("a")) // put then delete: absent
	b.Delete([]byte("b"))
	b.Put([]byte("b"), []byte("2")) // delete then put: present
	b.Put([]byte("c"), []byte("1"))
	b.Put([]byte("c"), []byte("3")) // last put wins
	b.DeletePrefix([]byte("gone/"))
	b.Put([]byte("gone/new"), []byte("4")) // written after the prefix delete
	b.Append([]byte("gone/log"), 1, []byte("r1"))
	b.DeletePrefix([]byte("gone/log")) // removes the record appended above
	b.Append([]byte("gone/log"), 2, []byte("r2"))
	write(t, be, &b)

	want := []kv{{"b", "2"}, {"c", "3"}, {"gone/new", "4"}}
	if got := scan(t, be, "", "", 0); !slices.Equal(got, want) {
		t.Errorf("after ordered batch keys = %v, want %v", got, want)
	}
	if got, want := rangeLog(t, be, "gone/log", 0, math.MaxUint64, 0, false), []rec{{2, "r2"}}; !slices.Equal(got, want) {
		t.Errorf("after ordered batch log = %v, want %v", got, want)
	}
}

func testScanOrder(t *testing.T, be storage.Backend) {
	// Written in an order unlike the sorted one; bytes compare unsigned.
	keys := []string{"p/m", "p/\xff", "p/a", "p/\x00", "p/", "p/a\x00", "p/aa", "p/\x80", "p/Z", "q", "o"}
	var b storage.Batch
	for i, k := range keys {
		b.Put([]byte(k), []byte(fmt.Sprint(i)))
	}
	write(t, be, &b)
	want := []string{"p/", "p/\x00", "p/Z", "p/a", "p/a\x00", "p/aa", "p/m", "p/\x80", "p/\xff"}
	got := scan(t, be, "p/", "", 0)
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("scan order = %q, want %q", keysOf(got), want)
	}
	for _, e := range got {
		if e.v != fmt.Sprint(slices.Index(keys, e.k)) {
			t.Errorf("scan value of %q = %q", e.k, e.v)
		}
	}
	all := keysOf(scan(t, be, "", "", 0))
	if !slices.IsSorted(all) || len(all) != len(keys) {
		t.Errorf("scan of everything = %q, want all %d keys sorted", all, len(keys))
	}
}

// testScanPrefixBounds checks prefixes whose upper bound needs care: empty,
// ending in 0xff, and all 0xff.
func testScanPrefixBounds(t *testing.T, be storage.Backend) {
	keys := []string{
		"", "\x00", "a", "a\x00", "a\xfe", "a\xff", "a\xff\x00", "a\xff\xff", "a\xff\xff\x01",
		"b", "b\x00", "\xfe\xff", "\xff", "\xff\x00", "\xff\xfe", "\xff\xff", "\xff\xff\xff",
	}
	var b storage.Batch
	for _, k := range keys {
		b.Put([]byte(k), []byte("v:"+k))
	}
	write(t, be, &b)
	sorted := slices.Clone(keys)
	slices.Sort(sorted)

	prefixes := []string{"", "a", "a\xff", "a\xff\xff", "b", "\xfe", "\xff", "\xff\xff", "\xff\xff\xff", "\xff\xff\xff\xff", "c"}
	for _, p := range prefixes {
		t.Run(fmt.Sprintf("%x", p), func(t *testing.T) {
			var want []string
			for _, k := range sorted {
				if len(k) >= len(p) && k[:len(p)] == p {
					want = append(want, k)
				}
			}
			got := scan(t, be, p, "", 0)
			if !slices.Equal(keysOf(got), want) {
				t.Errorf("scan prefix %q = %q, want %q", p, keysOf(got), want)
			}
			for _, e := range got {
				if e.v != "v:"+e.k {
					t.Errorf("scan prefix %q: value of %q = %q", p, e.k, e.v)
				}
			}
		})
	}
}

func testScanStart(t *testing.T, be storage.Backend) {
	var b storage.Batch
	for _, k := range []string{"a", "p/1", "p/3", "p/5", "p/5\x00", "q"} {
		b.Put([]byte(k), []byte(k))
	}
	write(t, be, &b)
	tests := []struct {
		name  string
		start string
		want  []string
	}{
		{name: "nil start", start: "", want: []string{"p/1", "p/3", "p/5", "p/5\x00"}},
		{name: "start before prefix", start: "a", want: []string{"p/1", "p/3", "p/5", "p/5\x00"}},
		{name: "start is inclusive", start: "p/3", want: []string{"p/3", "p/5", "p/5\x00"}},
		{name: "start between keys", start: "p/4", want: []string{"p/5", "p/5\x00"}},
		{name: "start just past a key", start: "p/5\x00", want: []string{"p/5\x00"}},
		{name: "start past the last key", start: "p/6", want: nil},
		{name: "start past the prefix", start: "z", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keysOf(scan(t, be, "p/", tt.start, 0)); !slices.Equal(got, tt.want) {
				t.Errorf("scan from %q = %q, want %q", tt.start, got, tt.want)
			}
		})
	}
}

func testScanLimit(t *testing.T, be storage.Backend) {
	var b storage.Batch
	for i := range 10 {
		b.Put(fmt.Appendf(nil, "k%02d", i), []byte("v"))
	}
	write(t, be, &b)
	tests := []struct {
		name  string
		start string
		limit int
		want  []string
	}{
		{name: "limit 3", limit: 3, want: []string{"k00", "k01", "k02"}},
		{name: "limit 1", limit: 1, want: []string{"k00"}},
		{name: "limit with start", start: "k05", limit: 2, want: []string{"k05", "k06"}},
		{name: "limit past the end", start: "k08", limit: 5, want: []string{"k08", "k09"}},
		{name: "no limit", start: "k07", want: []string{"k07", "k08", "k09"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keysOf(scan(t, be, "k", tt.start, tt.limit)); !slices.Equal(got, tt.want) {
				t.Errorf("scan = %q, want %q", got, tt.want)
			}
		})
	}
}

var errStop = errors.New("storagetest: stop")

func testScanStopsOnError(t *testing.T, be storage.Backend) {
	var b storage.Batch
	for i := range 5 {
		b.Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
	}
	write(t, be, &b)
	calls := 0
	err := be.Scan(context.Background(), []byte("k"), nil, 0, func(k, v []byte) error {
		calls++
		if calls == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("scan err = %v, want the callback's error", err)
	}
	if calls != 2 {
		t.Errorf("callback ran %d times after returning an error on call 2", calls)
	}
}

func testRange(t *testing.T, be storage.Backend) {
	// Appended out of order, in several batches, with the extreme ids.
	ids := []uint64{5, 1, 3, math.MaxUint64, 0, 2, 4, 10, 255, 256, 1 << 32}
	for _, id := range ids {
		appendRec(t, be, "log", id, fmt.Sprint("r", id))
	}
	appendRec(t, be, "log2", 3, "other log")
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	reversed := slices.Clone(sorted)
	slices.Reverse(reversed)

	tests := []struct {
		name     string
		from, to uint64
		limit    int
		reverse  bool
		want     []uint64
	}{
		{name: "all ascending", from: 0, to: math.MaxUint64, want: sorted},
		{name: "all descending", from: 0, to: math.MaxUint64, reverse: true, want: reversed},
		{name: "inclusive bounds", from: 2, to: 5, want: []uint64{2, 3, 4, 5}},
		{name: "inclusive bounds reverse", from: 2, to: 5, reverse: true, want: []uint64{5, 4, 3, 2}},
		{name: "bounds between ids", from: 6, to: 300, want: []uint64{10, 255, 256}},
		{name: "single id", from: 256, to: 256, want: []uint64{256}},
		{name: "missing single id", from: 7, to: 7, want: nil},
		{name: "from above to", from: 5, to: 2, want: nil},
		{name: "limit", from: 0, to: math.MaxUint64, limit: 3, want: []uint64{0, 1, 2}},
		{name: "limit from", from: 4, to: math.MaxUint64, limit: 2, want: []uint64{4, 5}},
		{name: "reverse limit is newest", from: 0, to: math.MaxUint64, limit: 3, reverse: true, want: []uint64{math.MaxUint64, 1 << 32, 256}},
		{name: "reverse limit below to", from: 0, to: 9, limit: 2, reverse: true, want: []uint64{5, 4}},
		{name: "top id only", from: math.MaxUint64, to: math.MaxUint64, want: []uint64{math.MaxUint64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rangeLog(t, be, "log", tt.from, tt.to, tt.limit, tt.reverse)
			if !slices.Equal(idsOf(got), tt.want) {
				t.Fatalf("range ids = %v, want %v", idsOf(got), tt.want)
			}
			for _, r := range got {
				if r.v != fmt.Sprint("r", r.id) {
					t.Errorf("record %d = %q", r.id, r.v)
				}
			}
		})
	}
	if got := rangeLog(t, be, "no-such-log", 0, math.MaxUint64, 0, false); len(got) != 0 {
		t.Errorf("range of a missing log = %v, want nothing", got)
	}
}

func testRangeStopsOnError(t *testing.T, be storage.Backend) {
	for id := range uint64(5) {
		appendRec(t, be, "log", id, "r")
	}
	for _, reverse := range []bool{false, true} {
		calls := 0
		err := be.Range(context.Background(), []byte("log"), 0, math.MaxUint64, 0, reverse, func(id uint64, r []byte) error {
			calls++
			if calls == 2 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || calls != 2 {
			t.Errorf("reverse=%v: range err = %v after %d calls, want the callback's error after 2", reverse, err, calls)
		}
	}
}

func testAppendIdempotent(t *testing.T, be storage.Backend) {
	appendRec(t, be, "log", 7, "first")
	appendRec(t, be, "log", 7, "second") // a retried append keeps the first record

	var b storage.Batch
	b.Append([]byte("log"), 8, []byte("first of batch"))
	b.Append([]byte("log"), 8, []byte("second of batch"))
	b.Append([]byte("log"), 7, []byte("third"))
	write(t, be, &b)

	want := []rec{{7, "first"}, {8, "first of batch"}}
	if got := rangeLog(t, be, "log", 0, math.MaxUint64, 0, false); !slices.Equal(got, want) {
		t.Errorf("after duplicate appends log = %v, want %v", got, want)
	}
	if got := rangeLog(t, be, "log", 0, math.MaxUint64, 0, true); !slices.Equal(got, []rec{want[1], want[0]}) {
		t.Errorf("after duplicate appends reversed log = %v", got)
	}

	// After the log is deleted the id is free again.
	var d storage.Batch
	d.DeletePrefix([]byte("log"))
	write(t, be, &d)
	appendRec(t, be, "log", 7, "new")
	if got := rangeLog(t, be, "log", 0, math.MaxUint64, 0, false); !slices.Equal(got, []rec{{7, "new"}}) {
		t.Errorf("append after deleting the log = %v, want [{7 new}]", got)
	}
}

// testLogNames checks that logs whose names are prefixes of each other stay
// apart, and that a 0x00 byte in a log name is refused without writing
// anything.
func testLogNames(t *testing.T, be storage.Backend) {
	names := []string{"u/a", "u/ab", "u/a\x01", "u/a\xff", "u/", "u", "", "\xff", "\xff\xff"}
	for i, n := range names {
		appendRec(t, be, n, 1, fmt.Sprint("log ", i))
		appendRec(t, be, n, 2, fmt.Sprint("log ", i))
	}
	for i, n := range names {
		want := []rec{{1, fmt.Sprint("log ", i)}, {2, fmt.Sprint("log ", i)}}
		if got := rangeLog(t, be, n, 0, math.MaxUint64, 0, false); !slices.Equal(got, want) {
			t.Errorf("log %q = %v, want %v", n, got, want)
		}
		if got := rangeLog(t, be, n, 0, math.MaxUint64, 0, true); len(got) != 2 || got[0].id != 2 {
			t.Errorf("log %q reversed = %v", n, got)
		}
	}

	var b storage.Batch
	b.Put([]byte("must-not-exist"), []byte("v"))
	b.Append([]byte("u/a\x00b"), 1, []byte("r"))
	if err := be.Write(context.Background(), &b); !errors.Is(err, storage.ErrLogName) {
		t.Errorf("append to a log name with 0x00: err = %v, want ErrLogName", err)
	}
	if _, ok := get(t, be, "must-not-exist"); ok {
		t.Error("a refused batch was partly written")
	}
	err := be.Range(context.Background(), []byte("u/a\x00"), 0, math.MaxUint64, 0, false, func(uint64, []byte) error { return nil })
	if !errors.Is(err, storage.ErrLogName) {
		t.Errorf("range of a log name with 0x00: err = %v, want ErrLogName", err)
	}
}

// testKeysAndLogsSeparate stores keys that would collide with log records
// in a naive shared layout and checks neither space sees the other.
func testKeysAndLogsSeparate(t *testing.T, be storage.Backend) {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], 1)
	keys := []string{
		"chat",
		"chat\x00" + string(id[:]),
		"\x00chat\x00" + string(id[:]),
		"\x01chat\x00" + string(id[:]),
		"\xffchat\x00" + string(id[:]),
		"\xff",
	}
	var b storage.Batch
	for i, k := range keys {
		b.Put([]byte(k), []byte(fmt.Sprint("key ", i)))
	}
	b.Append([]byte("chat"), 1, []byte("record 1"))
	b.Append([]byte("chat"), 2, []byte("record 2"))
	b.Append([]byte(""), 1, []byte("empty-named log"))
	write(t, be, &b)

	got := scan(t, be, "", "", 0)
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	if !slices.Equal(keysOf(got), sorted) {
		t.Errorf("scan of everything = %q, want only the plain keys %q", keysOf(got), sorted)
	}
	for _, e := range got {
		if e.v != fmt.Sprint("key ", slices.Index(keys, e.k)) {
			t.Errorf("key %q = %q, a log record leaked into it", e.k, e.v)
		}
	}
	wantLog := []rec{{1, "record 1"}, {2, "record 2"}}
	if got := rangeLog(t, be, "chat", 0, math.MaxUint64, 0, false); !slices.Equal(got, wantLog) {
		t.Errorf("log chat = %v, want %v", got, wantLog)
	}
	for _, k := range keys {
		if k == "chat" || bytes.IndexByte([]byte(k), 0) >= 0 {
			continue
		}
		if got := rangeLog(t, be, k, 0, math.MaxUint64, 0, false); len(got) > 0 {
			t.Errorf("a key %q shows up as log records %v", k, got)
		}
	}
	if got := rangeLog(t, be, "chat\x01", 0, math.MaxUint64, 0, false); len(got) != 0 {
		t.Errorf("log chat\\x01 = %v, want nothing", got)
	}
}

func testDeletePrefix(t *testing.T, be storage.Backend) {
	var b storage.Batch
	for _, k := range []string{"u", "u/", "u/1", "u/2", "u/2/x", "uu/1", "t", "v/1", "\xfe", "\xff", "\xff\xff", "a\x00b", "a"} {
		b.Put([]byte(k), []byte("v"))
	}
	for _, l := range []string{"u", "u/log", "u/log2", "uu/log", "v/log", "\xff", "\xff\xfflog", "a"} {
		b.Append([]byte(l), 1, []byte("r"))
	}
	write(t, be, &b)

	steps := []struct {
		prefix   string
		keysLeft []string
		logsLeft []string
	}{
		{
			prefix:   "u/",
			keysLeft: []string{"a", "a\x00b", "t", "u", "uu/1", "v/1", "\xfe", "\xff", "\xff\xff"},
			logsLeft: []string{"a", "u", "uu/log", "v/log", "\xff", "\xff\xfflog"},
		},
		{
			prefix:   "\xff",
			keysLeft: []string{"a", "a\x00b", "t", "u", "uu/1", "v/1", "\xfe"},
			logsLeft: []string{"a", "u", "uu/log", "v/log"},
		},
		{
			// A prefix with 0x00 matches keys; no log name can have it.
			prefix:   "a\x00",
			keysLeft: []string{"a", "t", "u", "uu/1", "v/1", "\xfe"},
			logsLeft: []string{"a", "u", "uu/log", "v/log"},
		},
		{
			prefix:   "u",
			keysLeft: []string{"a", "t", "v/1", "\xfe"},
			logsLeft: []string{"a", "v/log"},
		},
		{
			prefix:   "",
			keysLeft: nil,
			logsLeft: nil,
		},
	}
	allLogs := []string{"u", "u/log", "u/log2", "uu/log", "v/log", "\xff", "\xff\xfflog", "a"}
	for _, st := range steps {
		var d storage.Batch
		d.DeletePrefix([]byte(st.prefix))
		write(t, be, &d)
		if got := keysOf(scan(t, be, "", "", 0)); !slices.Equal(got, st.keysLeft) {
			t.Errorf("after DeletePrefix(%q) keys = %q, want %q", st.prefix, got, st.keysLeft)
		}
		for _, l := range allLogs {
			n := len(rangeLog(t, be, l, 0, math.MaxUint64, 0, false))
			if want := slices.Contains(st.logsLeft, l); (n == 1) != want || n > 1 {
				t.Errorf("after DeletePrefix(%q) log %q has %d records, want kept=%v", st.prefix, l, n, want)
			}
		}
	}
}

func testBatchMany(t *testing.T, be storage.Backend) {
	const keys, recs = 1000, 200
	var b storage.Batch
	for i := range keys {
		b.Put(fmt.Appendf(nil, "k/%04d", i), fmt.Appendf(nil, "v%d", i))
	}
	for i := range recs {
		b.Append([]byte("log"), uint64(i), fmt.Appendf(nil, "r%d", i))
	}
	write(t, be, &b)
	got := scan(t, be, "k/", "", 0)
	if len(got) != keys {
		t.Fatalf("after a %d-op batch scan found %d keys, want %d", b.Len(), len(got), keys)
	}
	for i, e := range got {
		if e.k != fmt.Sprintf("k/%04d", i) || e.v != fmt.Sprint("v", i) {
			t.Fatalf("key %d = %q=%q", i, e.k, e.v)
		}
	}
	rs := rangeLog(t, be, "log", 0, math.MaxUint64, 0, false)
	if len(rs) != recs || rs[recs-1] != (rec{recs - 1, fmt.Sprint("r", recs-1)}) {
		t.Fatalf("after the batch the log has %d records, want %d", len(rs), recs)
	}
}

// testBatchAtomicUnderReaders moves units between two keys, one batch per
// move, while readers check with one Scan each that the total never
// changes: a reader that saw half a batch would count a unit twice or not
// at all. The writer goes on until the readers have scanned often enough
// to catch a torn batch (at least minMoves moves and minScans scans),
// within a time cap for slow backends.
func testBatchAtomicUnderReaders(t *testing.T, be storage.Backend) {
	const (
		total, readers     = 100, 2
		minMoves, minScans = 100, 3000
		maxMoves, maxTime  = 20000, 500 * time.Millisecond
	)
	enc := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	var b storage.Batch
	b.Put([]byte("acct/a"), enc(total))
	b.Put([]byte("acct/b"), enc(0))
	write(t, be, &b)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	var scans atomic.Int64
	for range readers {
		wg.Go(func() {
			for ; ctx.Err() == nil; scans.Add(1) {
				var sum, n uint64
				err := be.Scan(ctx, []byte("acct/"), nil, 0, func(k, v []byte) error {
					n++
					sum += binary.BigEndian.Uint64(v)
					return nil
				})
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if n != 2 || sum != total {
					errs <- fmt.Errorf("a reader saw %d keys summing to %d, want 2 summing to %d", n, sum, total)
					return
				}
			}
		})
	}
	a, bb := uint64(total), uint64(0)
	began := time.Now()
	for i := 0; i < minMoves || (scans.Load() < minScans && i < maxMoves && time.Since(began) < maxTime); i++ {
		if i%2 == 0 || bb == 0 {
			a, bb = a-1, bb+1
		} else {
			a, bb = a+1, bb-1
		}
		var m storage.Batch
		m.Put([]byte("acct/a"), enc(a))
		m.Put([]byte("acct/b"), enc(bb))
		if err := be.Write(context.Background(), &m); err != nil {
			cancel()
			wg.Wait()
			t.Fatalf("move %d: %v", i, err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v, _ := get(t, be, "acct/a"); binary.BigEndian.Uint64([]byte(v)) != a {
		t.Errorf("after the moves acct/a = %d, want %d", binary.BigEndian.Uint64([]byte(v)), a)
	}
}

func testConcurrentWriters(t *testing.T, be storage.Backend) {
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				var b storage.Batch
				b.Put(fmt.Appendf(nil, "w%02d/%02d", w, i), fmt.Appendf(nil, "%d.%d", w, i))
				b.Append(fmt.Appendf(nil, "log%02d", w), uint64(i), fmt.Appendf(nil, "%d.%d", w, i))
				if err := be.Write(context.Background(), &b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	if got := scan(t, be, "w", "", 0); len(got) != writers*each {
		t.Fatalf("after concurrent writes scan found %d keys, want %d", len(got), writers*each)
	}
	for w := range writers {
		for i := range each {
			if v, ok := get(t, be, fmt.Sprintf("w%02d/%02d", w, i)); !ok || v != fmt.Sprintf("%d.%d", w, i) {
				t.Fatalf("key w%02d/%02d = %q, %v", w, i, v, ok)
			}
		}
		if n := len(rangeLog(t, be, fmt.Sprintf("log%02d", w), 0, math.MaxUint64, 0, false)); n != each {
			t.Fatalf("log%02d has %d records, want %d", w, n, each)
		}
	}
}

// testCopies checks that no slice crosses the interface by reference: the
// store copies what a batch gives it, and what it hands out may be
// scribbled on.
func testCopies(t *testing.T, be storage.Backend) {
	key, val, rv := []byte("k"), []byte("value"), []byte("record")
	var b storage.Batch
	b.Put(key, val)
	b.Append([]byte("log"), 1, rv)
	write(t, be, &b)
	key[0], val[0], rv[0] = 'X', 'X', 'X'
	if v, ok := get(t, be, "k"); !ok || v != "value" {
		t.Fatalf("after changing the batch's slices get k = %q, %v", v, ok)
	}

	v, err := be.Get(context.Background(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	if v, _ := get(t, be, "k"); v != "value" {
		t.Errorf("after changing a Get result the store holds %q", v)
	}

	err = be.Scan(context.Background(), nil, nil, 0, func(k, v []byte) error {
		k[0], v[0] = 'X', 'X'
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := scan(t, be, "", "", 0); !slices.Equal(got, []kv{{"k", "value"}}) {
		t.Errorf("after changing Scan's slices the store holds %v", got)
	}

	err = be.Range(context.Background(), []byte("log"), 0, math.MaxUint64, 0, false, func(id uint64, r []byte) error {
		r[0] = 'X'
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rangeLog(t, be, "log", 0, math.MaxUint64, 0, false); !slices.Equal(got, []rec{{1, "record"}}) {
		t.Errorf("after changing Range's slices the log holds %v", got)
	}
}

func testLargeValue(t *testing.T, be storage.Backend) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	var b storage.Batch
	b.Put([]byte("big"), big)
	b.Append([]byte("log"), 1, big)
	write(t, be, &b)
	if v, _ := get(t, be, "big"); v != string(big) {
		t.Errorf("a 256 KiB value came back as %d bytes", len(v))
	}
	if rs := rangeLog(t, be, "log", 0, 1, 0, false); len(rs) != 1 || rs[0].v != string(big) {
		t.Error("a 256 KiB record did not come back whole")
	}
}

func testEmptyBatch(t *testing.T, be storage.Backend) {
	put(t, be, "k", "v")
	if err := be.Write(context.Background(), &storage.Batch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	var b storage.Batch
	b.Put([]byte("x"), []byte("y"))
	b.Reset()
	if err := be.Write(context.Background(), &b); err != nil {
		t.Fatalf("reset batch: %v", err)
	}
	if got := scan(t, be, "", "", 0); !slices.Equal(got, []kv{{"k", "v"}}) {
		t.Errorf("after empty batches the store holds %v", got)
	}
}

func testCancelledWrite(t *testing.T, be storage.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var b storage.Batch
	b.Put([]byte("k"), []byte("v"))
	b.Append([]byte("log"), 1, []byte("r"))
	if err := be.Write(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Errorf("write with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, ok := get(t, be, "k"); ok {
		t.Error("a write with a cancelled context stored its key")
	}
	if got := rangeLog(t, be, "log", 0, math.MaxUint64, 0, false); len(got) != 0 {
		t.Errorf("a write with a cancelled context appended %v", got)
	}
}

func testClosed(t *testing.T, be storage.Backend) {
	put(t, be, "k", "v")
	if err := be.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ctx := context.Background()
	var b storage.Batch
	b.Put([]byte("k2"), []byte("v"))
	checks := []struct {
		name string
		err  error
	}{
		{"Get", func() error { _, err := be.Get(ctx, []byte("k")); return err }()},
		{"Scan", be.Scan(ctx, nil, nil, 0, func(k, v []byte) error { return nil })},
		{"Range", be.Range(ctx, []byte("log"), 0, math.MaxUint64, 0, false, func(uint64, []byte) error { return nil })},
		{"Write", be.Write(ctx, &b)},
		{"Write empty", be.Write(ctx, &storage.Batch{})},
	}
	for _, c := range checks {
		if !errors.Is(c.err, storage.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", c.name, c.err)
		}
	}
	if err := be.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}
