// Package presence implements presence (RFC 6121 §4) and the routing of
// presence subscriptions (RFC 6121 §3) for local users.
//
// Broadcast presence (no 'to') goes to the contacts subscribed to the user
// and to the user's other available sessions; initial presence also brings
// the new session the presence of the contacts the user is subscribed to
// (probes answered directly for local contacts, sent for remote ones) and
// every subscription request still waiting for an answer. Unavailable
// presence, sent or implied by a closed session, also reaches the entities
// the session sent directed presence to. Subscription stanzas are processed
// by roster.Store (RFC 6121 Appendix A); pre-approval (§3.4) is advertised
// as a stream feature.
package presence

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

// NSPreApproval is the stream feature of subscription pre-approval (RFC
// 6121 §3.4.1).
const NSPreApproval = "urn:xmpp:features:pre-approval"

const id = "presence"

func init() { modules.Register(new(Module)) }

// Module handles the presence stanzas clients send.
type Module struct {
	h     modules.Host
	log   *slog.Logger
	store *roster.Store
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:  id,
		New: func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h, m.log = h, h.Logger()
	m.store = roster.NewStore(h.Storage())
	h.Use(modules.Inbound, m.inbound)
	return nil
}

// StreamFeatures implements modules.StreamFeaturer.
func (m *Module) StreamFeatures(dst []byte, _ string, authenticated bool) []byte {
	if !authenticated {
		return dst
	}
	return append(dst, `<sub xmlns="`+NSPreApproval+`"/>`...)
}

// SessionBound implements modules.SessionObserver.
func (m *Module) SessionBound(context.Context, modules.Session) {}

// SessionClosed implements modules.SessionObserver: a session that ends
// while available goes unavailable as if it had said so (RFC 6121 §4.5.2),
// and the entities it sent directed presence to are told as well.
//
// A session replaced by a new one on the same resource (resource conflict
// policy "replace") is the exception when its successor is already
// available: the resource did not go away, so nothing is broadcast.
func (m *Module) SessionClosed(ctx context.Context, s modules.Session) {
	if !s.Available() && directedOf(s).empty() {
		return
	}
	if next := m.h.Sessions().Session(s.JID()); next != nil && next != s && next.Available() {
		return
	}
	st := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, Type: "unavailable", From: s.JID()}
	if err := m.unavailable(ctx, s, st); err != nil {
		m.log.Warn("unavailable presence of a closed session", "jid", s.JID(), "err", err)
	}
}

// inbound handles every presence a client sends. Broadcast presence is
// passed on once processed (see modules.Inbound); anything else is
// consumed here.
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind != xmpp.KindPresence {
			return next.HandleStanza(ctx, st)
		}
		if st.To.IsZero() {
			switch st.Type {
			case "", "unavailable":
				if err := m.broadcast(ctx, st); err != nil {
					return err
				}
				return next.HandleStanza(ctx, st)
			case "error":
				return nil // an error for no one
			}
			return xmpp.NewStanzaError(xmpp.BadRequest, "a presence of type "+st.Type+" needs a 'to'")
		}
		switch st.Type {
		case "", "unavailable":
			return m.directed(ctx, st)
		case roster.Subscribe, roster.Subscribed, roster.Unsubscribe, roster.Unsubscribed:
			return m.store.Outbound(ctx, m.h, st)
		case "probe":
			return m.probe(ctx, st)
		case "error":
			m.send(ctx, st, st.To)
			return nil
		}
		return xmpp.NewStanzaError(xmpp.BadRequest, "unknown presence type "+st.Type)
	})
}

// broadcast processes presence without 'to' (RFC 6121 §4.2, §4.4, §4.5).
func (m *Module) broadcast(ctx context.Context, st *xmpp.Stanza) error {
	s := m.h.Sessions().Session(st.From)
	if s == nil {
		return nil
	}
	if st.Type == "unavailable" {
		return m.unavailable(ctx, s, st)
	}
	if err := checkPriority(st); err != nil {
		return err
	}
	initial := !s.Available()
	p := st.Clone()
	p.From, p.To = s.JID(), xmpp.JID{}
	s.SetAvailable(p)
	entries, err := m.store.Entries(ctx, s.JID().Bare())
	if err != nil {
		return err
	}
	m.toSubscribers(ctx, s, p.Clone(), entries, true)
	if initial {
		return m.initial(ctx, s, entries)
	}
	return nil
}

// toSubscribers sends out (a presence from s) to every available session of
// the contacts subscribed to s's user and to the user's other available
// sessions, and with reflect to s itself (RFC 6121 §4.2.2, §4.4.2: an
// available presence is broadcast to all of the user's resources, including
// the one that sent it). It returns the bare JIDs it covered.
func (m *Module) toSubscribers(ctx context.Context, s modules.Session, out *xmpp.Stanza, entries []roster.Item, reflect bool) map[xmpp.JID]bool {
	user := s.JID().Bare()
	covered := map[xmpp.JID]bool{user: true}
	for _, it := range entries {
		if it.Subscription&roster.From == 0 || it.JID == user {
			continue
		}
		covered[it.JID] = true
		out.To = it.JID
		m.send(ctx, out, it.JID)
	}
	for _, o := range m.h.Sessions().Resources(user) {
		if o.Available() && (reflect || o.JID() != s.JID()) {
			out.To = o.JID()
			m.h.Deliver(ctx, o.JID(), out)
		}
	}
	return covered
}

// initial completes initial presence (RFC 6121 §4.2.2, §3.1.3): the new
// session receives the presence of its user's other available sessions
// and of the contacts its user is subscribed to (the probe a remote server
// would get is answered at once for a local contact), then every
// subscription request still waiting for an answer.
func (m *Module) initial(ctx context.Context, s modules.Session, entries []roster.Item) error {
	user := s.JID().Bare()
	if err := m.answerProbe(ctx, s.JID(), user); err != nil {
		return err
	}
	for _, it := range entries {
		if it.Subscription&roster.To == 0 || it.JID == user {
			continue
		}
		if roster.LocalAccount(m.h, it.JID) {
			if err := m.answerProbe(ctx, s.JID(), it.JID); err != nil {
				return err
			}
			continue
		}
		probe := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, Type: "probe", From: user, To: it.JID}
		if err := m.h.Route(ctx, probe); err != nil {
			m.log.Warn("route probe", "to", it.JID, "err", err)
		}
	}
	for _, it := range entries {
		if it.PendingIn {
			m.h.Deliver(ctx, s.JID(), it.RequestStanza(user))
		}
	}
	return nil
}

// unavailable ends s's availability (RFC 6121 §4.5.2): st goes to the
// subscribers and the user's other sessions if s was available, and to
// every entity s sent directed presence to that did not get it already.
func (m *Module) unavailable(ctx context.Context, s modules.Session, st *xmpp.Stanza) error {
	out := st.Clone()
	out.From = s.JID()
	covered := map[xmpp.JID]bool{}
	if s.Available() {
		entries, err := m.store.Entries(ctx, s.JID().Bare())
		if err != nil {
			return err
		}
		covered = m.toSubscribers(ctx, s, out, entries, false)
		s.SetAvailable(nil)
	}
	for _, to := range directedOf(s).take() {
		if covered[to.Bare()] {
			continue
		}
		out.To = to
		m.send(ctx, out, to)
	}
	return nil
}

// directed sends available or unavailable presence with a 'to' (RFC 6121
// §4.6) and keeps the session's list of directed presence targets.
func (m *Module) directed(ctx context.Context, st *xmpp.Stanza) error {
	if st.Type == "" {
		if err := checkPriority(st); err != nil {
			return err
		}
	}
	m.send(ctx, st, st.To)
	if s := m.h.Sessions().Session(st.From); s != nil {
		d := directedOf(s)
		if d == nil {
			d = new(directedSet)
			s.SetValue(id, d)
		}
		d.set(st.To, st.Type == "")
	}
	return nil
}

// probe handles a probe a client sends (RFC 6121 §4.3): routed to a remote
// entity, answered at once for a local account.
func (m *Module) probe(ctx context.Context, st *xmpp.Stanza) error {
	if !roster.LocalAccount(m.h, st.To) {
		out := st.Clone()
		out.From = st.From.Bare()
		return m.h.Route(ctx, out)
	}
	return m.answerProbe(ctx, st.From, st.To)
}

// answerProbe answers, as the server of the local account target, a probe
// from prober (a full JID): a subscriber (or the account itself) gets the
// presence of each available session of target (of that session only if
// target is a full JID); anyone else gets "unsubscribed", which also
// repairs a prober's roster that wrongly shows a subscription (§4.3.2).
func (m *Module) answerProbe(ctx context.Context, prober, target xmpp.JID) error {
	allowed := target.Bare() == prober.Bare()
	if !allowed {
		it, ok, err := m.store.Item(ctx, target.Bare(), prober.Bare())
		if err != nil {
			return err
		}
		allowed = ok && it.Subscription&roster.From != 0
	}
	if !allowed {
		return m.store.Inbound(ctx, m.h, &xmpp.Stanza{
			Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient,
			Type: roster.Unsubscribed, From: target.Bare(), To: prober.Bare(),
		})
	}
	for _, o := range m.h.Sessions().Resources(target.Bare()) {
		p := o.Presence()
		if p == nil || o.JID() == prober || (!target.IsBare() && o.JID() != target) {
			continue
		}
		out := p.Clone()
		out.From, out.To = o.JID(), prober
		m.h.Deliver(ctx, prober, out)
	}
	return nil
}

// send delivers a presence addressed to to: to that session for a local
// full JID, to every available session for a local bare JID, through
// Host.Route for anything else. st.To is left as it is.
func (m *Module) send(ctx context.Context, st *xmpp.Stanza, to xmpp.JID) {
	if !roster.LocalAccount(m.h, to) {
		out := st
		if out.To != to {
			out = st.Clone()
			out.To = to
		}
		if err := m.h.Route(ctx, out); err != nil {
			m.log.Warn("route presence", "to", to, "err", err)
		}
		return
	}
	if !to.IsBare() {
		m.h.Deliver(ctx, to, st)
		return
	}
	for _, o := range m.h.Sessions().Resources(to) {
		if o.Available() {
			m.h.Deliver(ctx, o.JID(), st)
		}
	}
}

// checkPriority refuses a <priority/> that is not an integer from -128 to
// 127 (RFC 6121 §4.7.2.3).
func checkPriority(st *xmpp.Stanza) error {
	if !bytes.Contains(st.Inner, []byte("priority")) {
		return nil
	}
	txt, ok := st.ChildText(st.Space, "priority")
	if !ok {
		return nil
	}
	if n, err := strconv.Atoi(strings.TrimSpace(txt)); err != nil || n < -128 || n > 127 {
		return xmpp.NewStanzaError(xmpp.BadRequest, "priority must be an integer from -128 to 127")
	}
	return nil
}

// directedSet holds the entities a session sent available directed
// presence to (RFC 6121 §4.6.3), kept as the session's value "presence".
type directedSet struct {
	mu      sync.Mutex
	targets []xmpp.JID
}

func directedOf(s modules.Session) *directedSet {
	d, _ := s.Value(id).(*directedSet)
	return d
}

// set adds to (available) or removes it (unavailable).
func (d *directedSet) set(to xmpp.JID, available bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, t := range d.targets {
		if t == to {
			if !available {
				d.targets = append(d.targets[:i], d.targets[i+1:]...)
			}
			return
		}
	}
	if available {
		d.targets = append(d.targets, to)
	}
}

// take empties the set and returns what it held. It is safe on nil.
func (d *directedSet) take() []xmpp.JID {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.targets
	d.targets = nil
	return t
}

func (d *directedSet) empty() bool {
	if d == nil {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.targets) == 0
}

var (
	_ modules.Module          = (*Module)(nil)
	_ modules.StreamFeaturer  = (*Module)(nil)
	_ modules.SessionObserver = (*Module)(nil)
)
