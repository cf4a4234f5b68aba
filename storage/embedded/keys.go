package embedded

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Key layout. Plain keys and log records live in two disjoint spaces of the
// one Pebble keyspace, told apart by their first byte:
//
//	0x00 key                        a plain key
//	0x01 log 0x00 id(8, big-endian) a record of log
//
// Log names may not contain 0x00, so the byte after a log name ends it and
// a log whose name is a prefix of another's ("u/a", "u/ab") never sees the
// other's records. Big-endian ids sort numerically.
const (
	spaceKey = 0x00
	spaceLog = 0x01
)

// appendKey appends the Pebble key of plain key k to dst.
func appendKey(dst, k []byte) []byte {
	return append(append(dst, spaceKey), k...)
}

// appendLogKey appends the Pebble key of record id of log to dst.
func appendLogKey(dst, log []byte, id uint64) []byte {
	dst = append(append(append(dst, spaceLog), log...), 0)
	return binary.BigEndian.AppendUint64(dst, id)
}

// logKeyLen is the length of the Pebble key of a record of log.
func logKeyLen(log []byte) int { return 1 + len(log) + 1 + 8 }

// prefixEnd turns k in place into the smallest key above every key that
// begins with k: the exclusive upper bound of prefix k. Trailing 0xff
// bytes are dropped and the last byte left is incremented. Every Pebble
// key here starts with a space byte below 0xff, so the bound always exists,
// also for prefixes that end in (or are all) 0xff bytes.
func prefixEnd(k []byte) []byte {
	n := len(k)
	for n > 0 && k[n-1] == 0xff {
		n--
	}
	k = k[:n]
	k[n-1]++
	return k
}

// validLogName reports whether log can name a log: it holds no 0x00.
func validLogName(log []byte) bool { return bytes.IndexByte(log, 0) < 0 }

// keepFirst is the merge operator of log records. Records are written with
// Merge, never Set, and a merge keeps the oldest operand, so appending an
// (log, id) that exists leaves the first record in place without a read
// before the write: an append stays one blind write that group-commits
// with any other, and two racing appends of one id cannot both win.
// Merging is associative (the oldest of the oldest is the oldest), as
// Pebble requires when compactions merge subsets of operands.
type keepFirst struct{ oldest []byte }

// keepFirstName is stored in the database's OPTIONS file: a store made
// with one merge operator cannot be opened with another, so never change
// it, only add a new name with a migration.
const keepFirstName = "parley.keep_first.v1"

func newKeepFirst(_, value []byte) (*keepFirst, error) {
	// Pebble may reuse value's memory once Merge returns: copy it.
	return &keepFirst{oldest: bytes.Clone(value)}, nil
}

// MergeNewer ignores value: the record already held is older.
func (m *keepFirst) MergeNewer(value []byte) error { return nil }

// MergeOlder makes value, older than every operand so far, the result.
func (m *keepFirst) MergeOlder(value []byte) error {
	m.oldest = append(m.oldest[:0], value...)
	return nil
}

// Finish returns the oldest operand.
func (m *keepFirst) Finish(includesBase bool) ([]byte, io.Closer, error) {
	return m.oldest, nil, nil
}
