package embedded

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/parley-im/parley/storage"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) find(level slog.Level, substr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Level == level && strings.Contains(rec.Message, substr) {
			return true
		}
	}
	return false
}

func TestSlogger(t *testing.T) {
	tests := []struct {
		name      string
		log       func(l slogger)
		level     slog.Level
		msg       string
		wantPanic bool
	}{
		{name: "Infof", log: func(l slogger) { l.Infof("replayed %d keys", 3) }, level: slog.LevelInfo, msg: "replayed 3 keys"},
		{name: "Errorf", log: func(l slogger) { l.Errorf("bad %s", "thing") }, level: slog.LevelError, msg: "bad thing"},
		{name: "Fatalf", log: func(l slogger) { l.Fatalf("corrupt %s", "table") }, level: slog.LevelError, msg: "corrupt table", wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				tt.log(slogger{slog.New(rec)})
				return false
			}()
			if panicked != tt.wantPanic {
				t.Errorf("panicked = %v, want %v", panicked, tt.wantPanic)
			}
			if !rec.find(tt.level, tt.msg) {
				t.Errorf("no %v record %q in %v", tt.level, tt.msg, rec.recs)
			}
		})
	}
}

// TestLoggerReachesPebble reopens a store whose data is still in the WAL:
// Pebble reports the replay through the bridged logger.
func TestLoggerReachesPebble(t *testing.T) {
	fs := vfs.NewStrictMem()
	be, err := OpenFS(fs, "/data", storage.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Put(context.Background(), be, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	fs.SetIgnoreSyncs(true) // a crash: the memtable never reaches a table
	be.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	rec := &recorder{}
	be, err = OpenFS(fs, "/data", storage.Options{Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if !rec.find(slog.LevelInfo, "replayed 1 keys") {
		t.Errorf("no WAL replay line logged; got %d records", len(rec.recs))
	}
}

func TestOnCommit(t *testing.T) {
	type call struct {
		ops int
		d   time.Duration
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	be, err := OpenFS(vfs.NewMem(), "/data", storage.Options{
		Logger: quiet,
		OnCommit: func(ops int, d time.Duration) {
			mu.Lock()
			calls = append(calls, call{ops, d})
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()

	var b storage.Batch
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("b"))
	b.Append([]byte("log"), 1, []byte("r"))
	if err := be.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := be.Write(ctx, &storage.Batch{}); err != nil { // empty: no commit
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := be.Write(cancelled, &b); err == nil { // failed: no commit
		t.Fatal("write with a cancelled context succeeded")
	}
	var bad storage.Batch
	bad.Append([]byte("a\x00"), 1, nil)
	if err := be.Write(ctx, &bad); err == nil {
		t.Fatal("append to a bad log name succeeded")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0].ops != 3 || calls[0].d <= 0 {
		t.Errorf("OnCommit calls = %v, want one with 3 ops and a positive latency", calls)
	}
}
