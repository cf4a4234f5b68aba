package server

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/parley-im/parley/xmpp"
)

// router is the table of bound sessions, keyed by bare JID and sharded so
// that binds on one account never contend with lookups on another.
//
// Each shard's slices are copy-on-write: resources returns a slice the
// caller may iterate without the lock, and bind/unbind replace it.
// Lock order (server/LOCKS.md): a shard lock is never held while taking a
// session's lock.
type router struct {
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[xmpp.JID][]*session
}

func newRouter() *router {
	r := &router{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = map[xmpp.JID][]*session{}
	}
	return r
}

func (r *router) shard(bare xmpp.JID) *shard {
	return &r.shards[maphash.String(r.seed, bare.String())%uint64(len(r.shards))]
}

// bindPolicy says what bind does when the resource is already bound.
type bindPolicy uint8

const (
	bindReplace bindPolicy = iota // the old session is returned to be closed
	bindRefuse                    // bind fails
)

// bind adds s under its full JID. With bindReplace an existing session on
// the same resource is removed and returned (the caller closes it); with
// bindRefuse bind reports false and changes nothing.
func (r *router) bind(s *session, policy bindPolicy) (old *session, ok bool) {
	full := s.jid
	sh := r.shard(full.Bare())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.m[full.Bare()]
	next := make([]*session, 0, len(list)+1)
	for _, o := range list {
		if o.jid == full {
			if policy == bindRefuse {
				return nil, false
			}
			old = o
			continue
		}
		next = append(next, o)
	}
	sh.m[full.Bare()] = append(next, s)
	return old, true
}

// unbind removes s if it is still the session bound to its JID.
func (r *router) unbind(s *session) {
	bare := s.jid.Bare()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.m[bare]
	i := slices.Index(list, s)
	if i < 0 {
		return
	}
	if len(list) == 1 {
		delete(sh.m, bare)
		return
	}
	next := make([]*session, 0, len(list)-1)
	next = append(next, list[:i]...)
	sh.m[bare] = append(next, list[i+1:]...)
}

// resources returns the sessions bound to bare. The slice must not be
// modified.
func (r *router) resources(bare xmpp.JID) []*session {
	sh := r.shard(bare)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[bare]
}

// session returns the session bound to full, or nil.
func (r *router) session(full xmpp.JID) *session {
	for _, s := range r.resources(full.Bare()) {
		if s.jid == full {
			return s
		}
	}
	return nil
}

// all calls fn for every bound session (for shutdown and metrics).
func (r *router) all(fn func(*session)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		lists := make([][]*session, 0, len(sh.m))
		for _, l := range sh.m {
			lists = append(lists, l)
		}
		sh.mu.RUnlock()
		for _, l := range lists {
			for _, s := range l {
				fn(s)
			}
		}
	}
}
