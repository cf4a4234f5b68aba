package blocking

import (
	"context"
	"slices"
	"strings"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// List is one user's block list. A *List is never modified once it is
// shared: changes build a new one. The nil *List blocks nothing.
type List struct {
	items map[string]struct{} // normalised JIDs
	// domainRes is set when an item is <domain/resource>, the one form
	// whose check needs an allocation.
	domainRes bool
}

// Load reads user's block list straight from storage, for modules that
// must honour it where the blocking module's cache is not at hand (PEP
// notifications to contacts of an account with no session).
func Load(ctx context.Context, be storage.Backend, user xmpp.JID) (*List, error) {
	return load(ctx, be, user)
}

func (l *List) add(item string) {
	l.items[item] = struct{}{}
	if j, err := xmpp.ParseJID(item); err == nil && j.Local() == "" && j.Resource() != "" {
		l.domainRes = true
	}
}

// Len returns the number of blocked JIDs.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.items)
}

// JIDs returns the blocked JIDs, sorted.
func (l *List) JIDs() []string {
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(l.items))
	for j := range l.items {
		out = append(out, j)
	}
	slices.Sort(out)
	return out
}

// Has reports whether item itself is on the list (no matching rules).
func (l *List) Has(item xmpp.JID) bool {
	if l == nil {
		return false
	}
	_, ok := l.items[item.String()]
	return ok
}

// Blocks reports whether j is blocked, matching in the order of XEP-0191 §6
// (the XEP-0016 rules): the full JID itself, its bare JID, <domain/resource>,
// then its domain or any parent domain (blocking example.org also blocks
// user@muc.example.org). It does not allocate unless the list holds a
// <domain/resource> item.
func (l *List) Blocks(j xmpp.JID) bool {
	if l == nil || len(l.items) == 0 || j.IsZero() {
		return false
	}
	if _, ok := l.items[j.String()]; ok {
		return true
	}
	if !j.IsBare() {
		if _, ok := l.items[j.Bare().String()]; ok {
			return true
		}
		if l.domainRes && j.Local() != "" {
			if _, ok := l.items[j.Domain()+"/"+j.Resource()]; ok {
				return true
			}
		}
	}
	for d := j.Domain(); ; {
		if _, ok := l.items[d]; ok {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}

// with returns a copy of l with items added.
func (l *List) with(items []xmpp.JID) *List {
	n := &List{items: make(map[string]struct{}, l.Len()+len(items)), domainRes: l != nil && l.domainRes}
	if l != nil {
		for j := range l.items {
			n.items[j] = struct{}{}
		}
	}
	for _, j := range items {
		n.add(j.String())
	}
	return n
}

// without returns a copy of l with items removed.
func (l *List) without(items []xmpp.JID) *List {
	n := &List{items: make(map[string]struct{}, l.Len())}
	if l == nil {
		return n
	}
	drop := make(map[string]bool, len(items))
	for _, j := range items {
		drop[j.String()] = true
	}
	for j := range l.items {
		if !drop[j] {
			n.add(j)
		}
	}
	return n
}
