package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"gopkg.in/yaml.v3"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/storage/storagetest"
)

// quiet is the logger of stores in tests that do not look at logs.
var quiet = slog.New(slog.DiscardHandler)

func TestConformanceDisk(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		be, err := storage.Open(context.Background(), "embedded", storage.Options{Dir: t.TempDir(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

func TestConformanceMem(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		be, err := OpenFS(vfs.NewMem(), "/data", storage.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		maxOpen int
		want    Config
		wantMax int
		wantErr string
	}{
		{name: "defaults", want: Config{CacheMB: 64, MemtableMB: 16, Sync: true}, wantMax: 256},
		{name: "all keys", yaml: "cache_mb: 8\nmemtable_mb: 4\nsync: false\n", want: Config{CacheMB: 8, MemtableMB: 4, Sync: false}, wantMax: 256},
		{name: "no cache", yaml: "cache_mb: 0\n", want: Config{CacheMB: 0, MemtableMB: 16, Sync: true}, wantMax: 256},
		{name: "max open files below the cap", maxOpen: 100, want: DefaultConfig(), wantMax: 100},
		{name: "max open files capped", maxOpen: 1000, want: DefaultConfig(), wantMax: 256},
		{name: "negative max open files", maxOpen: -1, want: DefaultConfig(), wantMax: 256},
		{name: "unknown key", yaml: "cache_size: 8\n", wantErr: "cache_size"},
		{name: "negative cache", yaml: "cache_mb: -1\n", wantErr: "cache_mb must be"},
		{name: "zero memtable", yaml: "memtable_mb: 0\n", wantErr: "memtable_mb must be"},
		{name: "huge memtable", yaml: "memtable_mb: 4096\n", wantErr: "memtable_mb must be"},
		{name: "sync not a bool", yaml: "sync: maybe\n", wantErr: "sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := storage.Options{MaxOpenFiles: tt.maxOpen}
			if tt.yaml != "" {
				var doc yaml.Node
				if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
					t.Fatal(err)
				}
				opts.Config = doc.Content[0]
			}
			set, err := resolve(opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if set.Config != tt.want || set.maxOpen != tt.wantMax {
				t.Errorf("resolve = %+v, max open %d; want %+v, %d", set.Config, set.maxOpen, tt.want, tt.wantMax)
			}
		})
	}
}

func TestOpenNeedsDir(t *testing.T) {
	if _, err := Open(context.Background(), storage.Options{}); err == nil {
		t.Fatal("Open without a data directory succeeded")
	}
}

func TestOpenSyncOff(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("sync: false"), &doc); err != nil {
		t.Fatal(err)
	}
	be, err := OpenFS(vfs.NewMem(), "/data", storage.Options{Config: doc.Content[0], Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if wo := be.(*store).wo; wo != pebble.NoSync {
		t.Errorf("with sync: false the write options are %+v, want NoSync", wo)
	}
	def, err := OpenFS(vfs.NewMem(), "/data", storage.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if wo := def.(*store).wo; wo != pebble.Sync {
		t.Errorf("by default the write options are %+v, want Sync", wo)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	be, err := Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var b storage.Batch
	b.Put([]byte("k"), []byte("v"))
	b.Append([]byte("log"), 1, []byte("r"))
	if err := be.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "CURRENT")); err != nil {
		t.Fatalf("the store is not in <dir>/store: %v", err)
	}
	be, err = Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer be.Close()
	assertData(t, be, true)
}

// assertData checks for the key and record TestReopen and the crash tests
// write, present or absent.
func assertData(t *testing.T, be storage.Backend, present bool) {
	t.Helper()
	v, err := be.Get(context.Background(), []byte("k"))
	switch {
	case present && (err != nil || string(v) != "v"):
		t.Errorf("get k = %q, %v; want \"v\"", v, err)
	case !present && !errors.Is(err, storage.ErrNotFound):
		t.Errorf("get k = %q, %v; want ErrNotFound", v, err)
	}
	n := 0
	err = be.Range(context.Background(), []byte("log"), 0, 10, 0, false, func(id uint64, rec []byte) error {
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{true: 1, false: 0}[present]; n != want {
		t.Errorf("log has %d records, want %d", n, want)
	}
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	be, err := Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open in this process: err = %v, want ErrInUse", err)
	}
	want := "embedded: store " + filepath.Join(dir, "store") + " is in use by another process (is parley serve running?)"
	if err.Error() != want {
		t.Errorf("in-use error = %q, want %q", err, want)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	be, err = Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	be.Close()

	mem := vfs.NewMem()
	mbe, err := OpenFS(mem, "/data", storage.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer mbe.Close()
	if _, err := OpenFS(mem, "/data", storage.Options{Logger: quiet}); !errors.Is(err, ErrInUse) {
		t.Errorf("second open of a MemFS store: err = %v, want ErrInUse", err)
	}
}

// TestInUseByAnotherProcess holds the store in a child process (this test
// binary running TestHoldStore) and opens it here: the file lock, not only
// Pebble's in-process table, must refuse.
func TestInUseByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldStore$")
	cmd.Env = append(os.Environ(), "EMBEDDED_HOLD_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("child did not take the store: %q, %v", line, err)
	}
	_, err = Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	stdin.Close()
	if werr := cmd.Wait(); werr != nil {
		t.Errorf("child: %v", werr)
	}
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is parley serve running?") {
		t.Fatalf("open of a store another process holds: err = %v, want ErrInUse", err)
	}
	be, err := Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("open after the child exited: %v", err)
	}
	be.Close()
}

// TestHoldStore is the child of TestInUseByAnotherProcess: it opens the
// store, says "held" and keeps it until its stdin closes.
func TestHoldStore(t *testing.T) {
	dir := os.Getenv("EMBEDDED_HOLD_DIR")
	if dir == "" {
		t.Skip("runs only as the child of TestInUseByAnotherProcess")
	}
	be, err := Open(context.Background(), storage.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	be.Close()
}

// crash writes the test data to a store on a strict MemFS, then crashes:
// every change not synced is lost. It returns the store reopened after.
func crash(t *testing.T, config string) storage.Backend {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	fs := vfs.NewStrictMem()
	opts := storage.Options{Config: doc.Content[0], Logger: quiet}
	be, err := OpenFS(fs, "/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	var b storage.Batch
	b.Put([]byte("k"), []byte("v"))
	b.Append([]byte("log"), 1, []byte("r"))
	if err := be.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	assertData(t, be, true)

	// The crash: nothing more reaches the disk, Close releases memory
	// and the lock, and the file system drops all it did not sync.
	fs.SetIgnoreSyncs(true)
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	be, err = OpenFS(fs, "/data", opts)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func TestCrashKeepsSyncedWrites(t *testing.T) {
	assertData(t, crash(t, "sync: true"), true)
}

// TestCrashLosesUnsyncedWrites shows that the crash test can fail: with
// sync off, a Write that returned is lost in a crash.
func TestCrashLosesUnsyncedWrites(t *testing.T) {
	assertData(t, crash(t, "sync: false"), false)
}
