package embedded

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/parley-im/parley/storage"
)

// countingFS counts the syncs of write-ahead log files.
type countingFS struct {
	vfs.FS
	walSyncs atomic.Int64
}

func (fs *countingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &countingFile{File: f, n: &fs.walSyncs}, nil
}

func (fs *countingFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	return fs.wrap(name, f, err)
}

func (fs *countingFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	return fs.wrap(newname, f, err)
}

func (fs *countingFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, opts...)
	return fs.wrap(name, f, err)
}

type countingFile struct {
	vfs.File
	n *atomic.Int64
}

func (f *countingFile) Sync() error {
	f.n.Add(1)
	return f.File.Sync()
}

func (f *countingFile) SyncData() error {
	f.n.Add(1)
	return f.File.SyncData()
}

func (f *countingFile) SyncTo(length int64) (bool, error) {
	f.n.Add(1)
	return f.File.SyncTo(length)
}

// benchStore opens a synced store on disk, in b's temporary directory.
func benchStore(b *testing.B) (storage.Backend, *countingFS) {
	b.Helper()
	fs := &countingFS{FS: vfs.Default}
	be, err := OpenFS(fs, b.TempDir(), storage.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be, fs
}

func BenchmarkGet(b *testing.B) {
	be, _ := benchStore(b)
	ctx := context.Background()
	const keys = 10_000
	val := make([]byte, 100)
	var batch storage.Batch
	for i := range keys {
		batch.Put(fmt.Appendf(nil, "user/%05d", i), val)
	}
	if err := be.Write(ctx, &batch); err != nil {
		b.Fatal(err)
	}
	ks := make([][]byte, keys)
	for i := range ks {
		ks[i] = fmt.Appendf(nil, "user/%05d", (i*7919)%keys)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := be.Get(ctx, ks[i%keys]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPut is one writer, one synced Write per op: the fsync latency.
func BenchmarkPut(b *testing.B) {
	be, fs := benchStore(b)
	ctx := context.Background()
	val := make([]byte, 100)
	key := []byte("user/00000")
	var batch storage.Batch
	before := fs.walSyncs.Load()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		copy(key[5:], fmt.Sprintf("%05d", n%10_000))
		batch.Reset()
		batch.Put(key, val)
		if err := be.Write(ctx, &batch); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(fs.walSyncs.Load()-before)/float64(n), "fsyncs/op")
}

// BenchmarkAppendGroupCommit has N writers append one 200-byte record each
// per synced Write, as the commit stage's committers do. Pebble's commit
// pipeline folds concurrent Writes into one WAL fsync: fsyncs/commit falls
// well below 1 as writers grow, and commits/s rises with it.
func BenchmarkAppendGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			be, fs := benchStore(b)
			ctx := context.Background()
			rec := make([]byte, 200)
			var next atomic.Int64
			var wg sync.WaitGroup
			before := fs.walSyncs.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					log := fmt.Appendf(nil, "inbox/%d", w)
					var batch storage.Batch
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						batch.Reset()
						batch.Append(log, uint64(i), rec)
						if err := be.Write(ctx, &batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			syncs := fs.walSyncs.Load() - before
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(syncs)/float64(b.N), "fsyncs/commit")
		})
	}
}

// BenchmarkRange reads 100 records of 200 bytes from a log of 1,000 that
// has been flushed and compacted into a table.
func BenchmarkRange(b *testing.B) {
	be, _ := benchStore(b)
	ctx := context.Background()
	rec := make([]byte, 200)
	var batch storage.Batch
	for i := range 1000 {
		batch.Append([]byte("inbox/alice"), uint64(i+1), rec)
	}
	if err := be.Write(ctx, &batch); err != nil {
		b.Fatal(err)
	}
	db := be.(*store).db
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := db.Compact([]byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
	tests := []struct {
		name     string
		from, to uint64
		reverse  bool
	}{
		{name: "newest100", from: 0, to: math.MaxUint64, reverse: true},
		{name: "after500", from: 501, to: math.MaxUint64},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				err := be.Range(ctx, []byte("inbox/alice"), tt.from, tt.to, 100, tt.reverse, func(id uint64, r []byte) error {
					n += len(r)
					return nil
				})
				if err != nil || n != 100*len(rec) {
					b.Fatalf("range read %d bytes, %v", n, err)
				}
			}
		})
	}
}
