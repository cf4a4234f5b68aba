// Package blocking implements XEP-0191: Blocking Command (version 1.3).
//
// A user's block list is kept in storage and cached in memory while the
// user has a bound session (and, boundedly, for users without one), so the
// checks on the per-stanza path are a map lookup. Enforcement, with the
// module first in the chain:
//
//   - Inbound, from the user to a blocked JID: messages and IQ requests are
//     answered with not-acceptable and <blocked xmlns='urn:xmpp:blocking:errors'/>,
//     presence is dropped;
//   - Inbound, Deliver and Unrouted, from a blocked JID to the user:
//     presence and messages are dropped silently, IQ requests answered with
//     service-unavailable, so the user appears offline (§3.3);
//   - Deliver, from the user to a blocked JID (stanzas the server sends on
//     the user's behalf: presence broadcasts, PEP notifications): dropped.
//
// Blocking a contact who may see the user's presence sends them
// unavailable presence from each available resource; unblocking sends the
// current presence again.
package blocking

import (
	"context"
	"encoding/xml"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Namespaces of XEP-0191.
const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

const id = "blocking"

// maxLoose bounds the cached lists of users with no bound session; past it
// they are all dropped and reloaded on demand.
const maxLoose = 10000

func init() { modules.Register(new(Module)) }

// Module is the blocking module.
type Module struct {
	h      modules.Host
	log    *slog.Logger
	roster *roster.Store

	mu    sync.RWMutex
	lists map[xmpp.JID]*entry // by bare JID
	loose int                 // entries with refs == 0

	seed   maphash.Seed
	locks  [32]sync.Mutex // serialise changes of one user's list
	pushID atomic.Uint64
}

type entry struct {
	list *List
	refs int // bound sessions of the user
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       id,
		XEPs:     []int{191},
		Features: []string{NS},
		New:      func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h, m.log = h, h.Logger()
	m.roster = roster.NewStore(h.Storage())
	m.lists = map[xmpp.JID]*entry{}
	m.seed = maphash.MakeSeed()
	h.HandleIQ(NS, m.handleIQ)
	h.Use(modules.Inbound, m.inbound)
	h.Use(modules.Deliver, m.deliver)
	h.Use(modules.Unrouted, m.unrouted)
	return nil
}

// SessionBound implements modules.SessionObserver: it loads the user's list
// so the Deliver check never waits on storage.
func (m *Module) SessionBound(ctx context.Context, s modules.Session) {
	user := s.JID().Bare()
	m.mu.Lock()
	if e := m.lists[user]; e != nil {
		if e.refs == 0 {
			m.loose--
		}
		e.refs++
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	l, err := load(ctx, m.h.Storage(), user)
	if err != nil {
		m.log.Error("load block list", "user", user, "err", err)
		return // loaded on first use instead
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.lists[user]; e != nil {
		if e.refs == 0 {
			m.loose--
		}
		e.refs++
		return
	}
	m.lists[user] = &entry{list: l, refs: 1}
}

// SessionClosed implements modules.SessionObserver.
func (m *Module) SessionClosed(_ context.Context, s modules.Session) {
	user := s.JID().Bare()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.lists[user]; e != nil && e.refs > 0 {
		e.refs--
		if e.refs == 0 {
			delete(m.lists, user)
		}
	}
}

// AccountDeleted implements modules.AccountObserver.
func (m *Module) AccountDeleted(ctx context.Context, user xmpp.JID) error {
	var b storage.Batch
	b.DeletePrefix(userPrefix(user))
	if err := m.h.Storage().Write(ctx, &b); err != nil {
		return err
	}
	m.set(user.Bare(), &List{items: map[string]struct{}{}})
	return nil
}

// list returns user's block list, from the cache or from storage.
func (m *Module) list(ctx context.Context, user xmpp.JID) (*List, error) {
	m.mu.RLock()
	var cached *List
	e := m.lists[user]
	if e != nil {
		cached = e.list // set replaces e.list under m.mu: read it under the lock
	}
	m.mu.RUnlock()
	if e != nil {
		return cached, nil
	}
	l, err := load(ctx, m.h.Storage(), user)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.lists[user]; e != nil {
		return e.list, nil // a change raced with the load: the cache wins
	}
	if m.loose >= maxLoose {
		for u, e := range m.lists {
			if e.refs == 0 {
				delete(m.lists, u)
			}
		}
		m.loose = 0
	}
	m.lists[user] = &entry{list: l}
	m.loose++
	return l, nil
}

// set replaces user's cached list after a change was stored.
func (m *Module) set(user xmpp.JID, l *List) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.lists[user]; e != nil {
		e.list = l
		return
	}
	m.lists[user] = &entry{list: l}
	m.loose++
}

func (m *Module) lock(user xmpp.JID) *sync.Mutex {
	return &m.locks[maphash.String(m.seed, user.String())%uint64(len(m.locks))]
}

// inbound enforces both directions for stanzas a local client sends.
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		to, from := st.To, st.From
		if to.IsZero() || from.IsZero() || to.Bare() == from.Bare() || st.Kind == xmpp.KindOther {
			return next.HandleStanza(ctx, st)
		}
		if !(to.Local() == "" && to.Domain() == from.Domain()) { // the own server is never blocked
			l, err := m.list(ctx, from.Bare())
			if err != nil {
				return err
			}
			if l.Blocks(to) {
				return refuseOutbound(st)
			}
		}
		if to.Local() != "" && m.h.IsLocal(to.Domain()) {
			l, err := m.list(ctx, to.Bare())
			if err != nil {
				return err
			}
			if l.Blocks(from) {
				return refuseInbound(st)
			}
		}
		return next.HandleStanza(ctx, st)
	})
}

// deliver enforces both directions for stanzas about to reach a session,
// which includes what the server sends on a user's behalf.
func (m *Module) deliver(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		target := modules.Target(ctx)
		from := st.From
		if target == nil || from.IsZero() {
			return next.HandleStanza(ctx, st)
		}
		user := target.JID().Bare()
		if from.Bare() == user || (from.Local() == "" && from.Domain() == user.Domain()) {
			return next.HandleStanza(ctx, st)
		}
		l, err := m.list(ctx, user)
		if err != nil {
			return err
		}
		if l.Blocks(from) {
			return refuseInbound(st)
		}
		// Unavailable presence to a blocked contact is what §3.3 asks
		// for on blocking: let it through.
		if from.Local() != "" && m.h.IsLocal(from.Domain()) &&
			!(st.Kind == xmpp.KindPresence && st.Type == "unavailable") {
			ls, err := m.list(ctx, from.Bare())
			if err != nil {
				return err
			}
			if ls.Blocks(target.JID()) {
				return nil
			}
		}
		return next.HandleStanza(ctx, st)
	})
}

// unrouted drops messages from blocked senders instead of storing them
// offline, as if delivered to an unavailable user.
func (m *Module) unrouted(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.From.IsZero() || st.To.IsZero() {
			return next.HandleStanza(ctx, st)
		}
		l, err := m.list(ctx, st.To.Bare())
		if err != nil {
			return err
		}
		if l.Blocks(st.From) {
			return nil
		}
		return next.HandleStanza(ctx, st)
	})
}

// blockedError is the §3.3 answer to a user writing to a blocked JID.
func blockedError() *xmpp.StanzaError {
	return &xmpp.StanzaError{
		Type: xmpp.Cancel, Condition: xmpp.NotAcceptable,
		App: []byte(`<blocked xmlns="` + NSErrors + `"/>`),
	}
}

// refuseOutbound handles a stanza from the user to a blocked JID.
func refuseOutbound(st *xmpp.Stanza) error {
	switch {
	case st.Type == "error", st.Kind == xmpp.KindPresence,
		st.Kind == xmpp.KindIQ && st.Type == "result":
		return nil
	}
	return blockedError()
}

// refuseInbound handles a stanza from a blocked JID to the user (§3.3): IQ
// requests get service-unavailable, everything else vanishes. Messages are
// dropped rather than bounced so the user looks like an offline user whose
// server stores messages, and so a message to several resources is not
// answered once per resource.
func refuseInbound(st *xmpp.Stanza) error {
	if st.Kind == xmpp.KindIQ && (st.Type == "get" || st.Type == "set") {
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	return nil
}

// itemsPayload is <blocklist/>, <block/> or <unblock/>.
type itemsPayload struct {
	XMLName xml.Name
	Items   []struct {
		JID string `xml:"jid,attr"`
	} `xml:"urn:xmpp:blocking item"`
}

func (m *Module) handleIQ(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	user := iq.From.Bare()
	if to := iq.To; !to.IsZero() && to != user && to != user.DomainJID() {
		return nil, xmpp.NewStanzaError(xmpp.Forbidden, "a block list is its owner's only")
	}
	var p itemsPayload
	if err := iq.UnmarshalPayload(&p); err != nil {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed payload")
	}
	switch {
	case iq.Type == "get" && p.XMLName.Local == "blocklist":
		return m.blocklist(ctx, iq)
	case iq.Type == "set" && (p.XMLName.Local == "block" || p.XMLName.Local == "unblock"):
		items := make([]xmpp.JID, 0, len(p.Items))
		for _, it := range p.Items {
			j, err := xmpp.ParseJID(it.JID)
			if err != nil {
				return nil, xmpp.NewStanzaError(xmpp.JIDMalformed, "not a JID: "+it.JID)
			}
			items = append(items, j)
		}
		if p.XMLName.Local == "block" {
			if len(items) == 0 {
				return nil, xmpp.NewStanzaError(xmpp.BadRequest, "block needs at least one item")
			}
			return nil, m.block(ctx, user, items)
		}
		return nil, m.unblock(ctx, user, items)
	}
	return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected blocklist get, block or unblock set")
}

func (m *Module) blocklist(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	if s := m.h.Sessions().Session(iq.From); s != nil {
		s.SetValue(id, true) // §3.3: pushes go to resources that asked
	}
	l, err := m.list(ctx, iq.From.Bare())
	if err != nil {
		return nil, err
	}
	return appendItems(nil, "blocklist", l.JIDs()), nil
}

func (m *Module) block(ctx context.Context, user xmpp.JID, items []xmpp.JID) error {
	mu := m.lock(user)
	mu.Lock()
	defer mu.Unlock()
	cur, err := load(ctx, m.h.Storage(), user)
	if err != nil {
		return err
	}
	var b storage.Batch
	var added []xmpp.JID
	for _, j := range items {
		if !cur.Has(j) {
			b.Put(itemKey(user, j), nil)
			added = append(added, j)
		}
	}
	if err := m.h.Storage().Write(ctx, &b); err != nil {
		return err
	}
	// Unavailable presence first, while the cached list still lets the
	// user's stanzas reach the contact.
	m.presenceTo(ctx, user, (*List)(nil).with(added), nil, true)
	m.set(user, cur.with(added))
	m.push(ctx, user, "block", items)
	return nil
}

func (m *Module) unblock(ctx context.Context, user xmpp.JID, items []xmpp.JID) error {
	mu := m.lock(user)
	mu.Lock()
	defer mu.Unlock()
	cur, err := load(ctx, m.h.Storage(), user)
	if err != nil {
		return err
	}
	var b storage.Batch
	var removed []xmpp.JID
	if len(items) == 0 {
		b.DeletePrefix(userPrefix(user))
		for _, s := range cur.JIDs() {
			if j, err := xmpp.ParseJID(s); err == nil {
				removed = append(removed, j)
			}
		}
	} else {
		for _, j := range items {
			if cur.Has(j) {
				b.Delete(itemKey(user, j))
				removed = append(removed, j)
			}
		}
	}
	if err := m.h.Storage().Write(ctx, &b); err != nil {
		return err
	}
	next := cur.without(removed)
	m.set(user, next)
	m.presenceTo(ctx, user, (*List)(nil).with(removed), next, false)
	m.push(ctx, user, "unblock", items)
	return nil
}

// presenceTo sends, from each available resource of user, unavailable
// presence (or the current presence) to the roster contacts that match
// changed and may see the user's presence (subscription from or both),
// skipping those still blocked by still.
func (m *Module) presenceTo(ctx context.Context, user xmpp.JID, changed, still *List, unavailable bool) {
	if changed.Len() == 0 {
		return
	}
	var avail []modules.Session
	for _, s := range m.h.Sessions().Resources(user) {
		if s.Available() {
			avail = append(avail, s)
		}
	}
	if len(avail) == 0 {
		return
	}
	items, _, err := m.roster.Items(ctx, user)
	if err != nil {
		m.log.Error("roster for block presence", "user", user, "err", err)
		return
	}
	for _, it := range items {
		if it.Subscription != roster.From && it.Subscription != roster.Both {
			continue
		}
		if !changed.Blocks(it.JID) || still.Blocks(it.JID) {
			continue
		}
		for _, s := range avail {
			var p *xmpp.Stanza
			if unavailable {
				p = &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, Type: "unavailable"}
			} else if cur := s.Presence(); cur != nil {
				p = cur.Clone()
			} else {
				continue
			}
			p.From, p.To = s.JID(), it.JID
			if err := m.h.Route(ctx, p); err != nil {
				m.log.Debug("block presence", "to", it.JID, "err", err)
			}
		}
	}
}

// push sends the change to every resource of user that requested the list.
func (m *Module) push(ctx context.Context, user xmpp.JID, op string, items []xmpp.JID) {
	strs := make([]string, len(items))
	for i, j := range items {
		strs[i] = j.String()
	}
	inner := appendItems(nil, op, strs)
	for _, s := range m.h.Sessions().Resources(user) {
		if asked, _ := s.Value(id).(bool); !asked {
			continue
		}
		iq := &xmpp.Stanza{
			Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, Type: "set",
			ID:   "block-push-" + strconv.FormatUint(m.pushID.Add(1), 10),
			From: user, To: s.JID(), Inner: inner,
		}
		m.h.Deliver(ctx, s.JID(), iq)
	}
}

// appendItems appends <name xmlns='urn:xmpp:blocking'><item jid/>...</name>.
func appendItems(dst []byte, name string, jids []string) []byte {
	dst = append(dst, "<"+name+` xmlns="`+NS+`"`...)
	if len(jids) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, j := range jids {
		dst = append(dst, `<item jid="`...)
		dst = xmpp.AppendEscaped(dst, j, true)
		dst = append(dst, `"/>`...)
	}
	return append(dst, "</"+name+">"...)
}

// Interface guards.
var (
	_ modules.Module          = (*Module)(nil)
	_ modules.SessionObserver = (*Module)(nil)
	_ modules.AccountObserver = (*Module)(nil)
)
