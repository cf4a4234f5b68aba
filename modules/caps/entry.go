package caps

import (
	"context"
	"errors"
	"sync"

	"github.com/parley-im/parley/modules"
)

// errStopped resolves an Entry whose session ended, became unavailable or
// advertised other capabilities before its features were known.
var errStopped = errors.New("caps: capabilities replaced or session ended")

// Entry is what a session advertised in the <c/> element of its broadcast
// presence, and the features that resolves to. It is safe for concurrent
// use; the attribute fields must not be modified.
type Entry struct {
	// Node, Ver, Hash and Ext are the attributes of the <c/> element. Hash
	// is empty for the legacy format (XEP-0115 before version 1.4).
	Node, Ver, Hash, Ext string

	done     chan struct{}
	once     sync.Once
	features []string
	err      error

	mu      sync.Mutex
	stopped bool
	cancel  context.CancelFunc
}

func newEntry(node, ver, hash, ext string) *Entry {
	return &Entry{Node: node, Ver: ver, Hash: hash, Ext: ext, done: make(chan struct{})}
}

// Of returns the capabilities s advertised, or nil if its presence carried
// none (or it is unavailable). The PEP module uses it to find the
// +notify features of a session.
func Of(s modules.Session) *Entry {
	e, _ := s.Value(id).(*Entry)
	return e
}

// Wait blocks until the features are known, resolution failed, or ctx
// ends. The features are sorted and shared: callers must not modify them.
func (e *Entry) Wait(ctx context.Context) (features []string, err error) {
	select {
	case <-e.done:
		return e.features, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Features returns the features without waiting; ok is false while they
// are being resolved and if resolution failed.
func (e *Entry) Features() (features []string, ok bool) {
	select {
	case <-e.done:
		return e.features, e.err == nil
	default:
		return nil, false
	}
}

// resolve settles e; the first call wins.
func (e *Entry) resolve(features []string, err error) {
	e.once.Do(func() {
		e.features, e.err = features, err
		close(e.done)
	})
}

// failed reports whether e settled with an error.
func (e *Entry) failed() bool {
	select {
	case <-e.done:
		return e.err != nil
	default:
		return false
	}
}

// start hands e the cancel function of its resolution; it reports false
// if e was stopped already.
func (e *Entry) start(cancel context.CancelFunc) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return false
	}
	e.cancel = cancel
	return true
}

// stop abandons the resolution of e, if it is still running.
func (e *Entry) stop() {
	e.mu.Lock()
	e.stopped = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.resolve(nil, errStopped)
}
