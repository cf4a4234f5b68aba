package embedded

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/parley-im/parley/storage"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{name: "space only", in: []byte{spaceKey}, want: []byte{spaceLog}},
		{name: "plain", in: []byte{spaceKey, 'a'}, want: []byte{spaceKey, 'b'}},
		{name: "trailing 0xff", in: []byte{spaceKey, 'a', 0xff}, want: []byte{spaceKey, 'b'}},
		{name: "all 0xff", in: []byte{spaceKey, 0xff, 0xff}, want: []byte{spaceLog}},
		{name: "log space all 0xff", in: []byte{spaceLog, 0xff}, want: []byte{spaceLog + 1}},
		{name: "inner 0xff kept", in: []byte{spaceKey, 0xff, 'a'}, want: []byte{spaceKey, 0xff, 'b'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prefixEnd(bytes.Clone(tt.in)); !bytes.Equal(got, tt.want) {
				t.Errorf("prefixEnd(%x) = %x, want %x", tt.in, got, tt.want)
			}
		})
	}
}

func TestLogKeyLayout(t *testing.T) {
	got := appendLogKey(nil, []byte("u/a"), 0x0102)
	want := []byte{spaceLog, 'u', '/', 'a', 0, 0, 0, 0, 0, 0, 0, 1, 2}
	if !bytes.Equal(got, want) || len(got) != logKeyLen([]byte("u/a")) {
		t.Errorf("appendLogKey = %x, want %x", got, want)
	}
	if got := appendKey(nil, []byte("k")); !bytes.Equal(got, []byte{spaceKey, 'k'}) {
		t.Errorf("appendKey = %x", got)
	}
}

func TestKeepFirst(t *testing.T) {
	tests := []struct {
		name   string
		first  string
		newer  []string // given through MergeNewer
		older  []string // given through MergeOlder
		result string
	}{
		{name: "one operand", first: "a", result: "a"},
		{name: "newer ignored", first: "a", newer: []string{"b", "c"}, result: "a"},
		{name: "older wins", first: "c", older: []string{"b", "a"}, result: "a"},
		{name: "older shorter", first: "long value", older: []string{"x"}, result: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.first)
			m, err := newKeepFirst(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			in[0] = 'X' // Pebble may reuse the operand's memory
			for _, v := range tt.newer {
				m.MergeNewer([]byte(v))
			}
			for _, v := range tt.older {
				m.MergeOlder([]byte(v))
			}
			got, closer, err := m.Finish(true)
			if err != nil || closer != nil || string(got) != tt.result {
				t.Errorf("Finish = %q, %v, %v; want %q", got, closer, err, tt.result)
			}
		})
	}
}

// TestAppendIdempotentThroughCompaction checks the keep-first merge where
// operands meet in flushes and compactions, not only in the memtable.
func TestAppendIdempotentThroughCompaction(t *testing.T) {
	be, err := OpenFS(vfs.NewMem(), "/data", storage.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	db := be.(*store).db
	write := func(f func(b *storage.Batch)) {
		t.Helper()
		var b storage.Batch
		f(&b)
		if err := be.Write(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(func(b *storage.Batch) { b.Append([]byte("log"), 1, []byte("first")) })
	write(func(b *storage.Batch) { b.Append([]byte("log"), 1, []byte("second")) })
	write(func(b *storage.Batch) { b.Append([]byte("log"), 2, []byte("old")) })
	write(func(b *storage.Batch) { b.DeletePrefix([]byte("lo")) })
	write(func(b *storage.Batch) { b.Append([]byte("log"), 2, []byte("new")) })
	write(func(b *storage.Batch) { b.Append([]byte("log"), 1, []byte("third")) })

	want := []string{"1=third", "2=new"}
	check := func(when string) {
		t.Helper()
		var got []string
		err := be.Range(context.Background(), []byte("log"), 0, math.MaxUint64, 0, false, func(id uint64, rec []byte) error {
			got = append(got, string(rune('0'+id))+"="+string(rec))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: log = %q, want %q", when, got, want)
		}
	}
	check("after flushes")
	write(func(b *storage.Batch) { b.Append([]byte("log"), 1, []byte("fourth")) })
	if err := db.Compact([]byte{0}, []byte{0xff}, true); err != nil {
		t.Fatal(err)
	}
	check("after a full compaction")
}
