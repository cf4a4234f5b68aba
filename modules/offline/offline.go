// Package offline implements XEP-0160: Best Practices for Handling Offline
// Messages (version 1.0.1), with XEP-0203 delay stamps and the XEP-0334
// storage hints.
//
// Messages of type normal or chat (or with no type) for an account with no
// session that may receive them reach the Unrouted stage; those with
// content worth keeping are stored per user and replayed, in order, to the
// first session that becomes a receiver (available with a non-negative
// priority), then deleted. What is not stored goes on down the chain, whose
// end bounces it with service-unavailable.
//
// This is a deliberately small store: a later issue replaces it with the
// sequenced per-user inbox of the design.
//
// # Order
//
// The server keeps each sender's messages in order for a recipient (DESIGN
// §5), and the replay must not break that. The presence module makes a
// session available (Session.SetAvailable) before it passes the presence on
// to this module, and the router sends a message to the bare JID to any
// receiver from that moment; a message routed in between would overtake the
// stored ones. A second race runs the other way: a sender's router decides
// that the user has no receiver, and the message reaches the store only
// after a session became available and had its replay, so it would wait
// there until the next login while the sender's later messages go live.
//
// Three rules, all under one lock per user (the same one the store takes),
// close both:
//
//  1. A session is marked replayed (its Value under this module's ID) only
//     once the replay to it has been delivered and the store emptied; the
//     replay runs for the first of: the session's presence reaching the
//     Inbound stage, or a message reaching the Deliver stage for it.
//  2. The Deliver middleware lets a message for a receiver that is not
//     marked replayed through only after running that replay itself (on the
//     sender's goroutine, like a store), so whatever was stored for the user
//     reaches the session before the message does. The replay's own
//     deliveries carry a context mark and pass straight through.
//  3. A message that reaches the store while some receiver of the user is
//     already marked replayed is delivered to those receivers at once (with
//     its delay stamp, as a replay would), instead of being kept; a session
//     found marked but no longer a receiver loses its mark.
//
// A live delivery after a session is marked therefore comes after every
// replayed message: the mark is set after the replay's deliveries were
// queued, and while a receiver is marked nothing is left in the store (rule
// 3) except after a storage error. Nothing is appended to the store during
// a replay: the replay holds the lock, and its deliveries (marked) never
// store. The steady path of a delivery, to a session marked replayed, is
// one Session.Value lookup; a session that never became available, or has a
// negative priority, is not a receiver and gets messages addressed to its
// full JID at once, without touching the store.
//
// Interleavings, with R1 and R2 two resources of one user:
//
//   - R1 and R2 become receivers together: whichever side takes the lock
//     first replays everything to its session and marks it; the other finds
//     the store empty and is marked with nothing to replay. A message routed
//     to both meanwhile reaches each once, after the replay on R1 and
//     without any on R2 (offline messages go to one session).
//   - A resource goes unavailable, or to a negative priority, during its
//     replay: the replay holds the lock and finishes (the session is still
//     bound and reads what was queued for it); the presence's pass through
//     this module then waits for the lock and clears the mark. A session
//     that is unbound stops the replay at the first delivery that fails;
//     what was not delivered stays stored.
//   - The per-user limit applies to stored messages only. Rule 2 stores
//     nothing, and rule 3 delivers instead of storing, so a message that
//     would have gone live is never bounced for a full store.
//   - A storage error during a replay is logged and the session is marked
//     anyway, so the replay is tried once per availability, as before; what
//     was not deleted is replayed again the next time (at-least-once).
//   - A message that reaches the store while R1 is marked and R2 still waits
//     for its replay goes to R1 only (rule 3), as a stored message would.
//
// The lock is held while the replay delivers, so a Deliver middleware of
// another module that delivers more (carbons' copies) must pass on the
// context it was given, which carries the replay's mark: a delivery with a
// fresh context to a receiver waiting for its replay would wait for the
// lock held further up its own goroutine.
package offline

import (
	"context"
	"encoding/xml"
	"hash/maphash"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// Feature is the XEP-0160 service discovery feature.
const Feature = "msgoffline"

// Namespaces of the payloads that decide whether a message is stored.
const (
	NSHints      = "urn:xmpp:hints"                        // XEP-0334
	NSChatStates = "http://jabber.org/protocol/chatstates" // XEP-0085
	NSStanzaID   = "urn:xmpp:sid:0"                        // XEP-0359
)

const id = "offline"

func init() { modules.Register(new(Module)) }

// Module is the offline module.
type Module struct {
	h   modules.Host
	log *slog.Logger
	cfg Config
	now func() time.Time

	seed  maphash.Seed
	locks [32]sync.Mutex // per user: store, replay and the replayed marks
	last  atomic.Uint64  // last id handed out
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       id,
		XEPs:     []int{160, 203, 334},
		Features: []string{Feature},
		New:      func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h, m.log = h, h.Logger()
	m.cfg = defaultConfig()
	if err := h.Config(&m.cfg); err != nil {
		return err
	}
	if err := m.cfg.validate(); err != nil {
		return err
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.seed = maphash.MakeSeed()
	h.Use(modules.Inbound, m.inbound)
	h.Use(modules.Deliver, m.deliver)
	h.Use(modules.Unrouted, m.unrouted)
	return nil
}

// AccountDeleted implements modules.AccountObserver.
func (m *Module) AccountDeleted(ctx context.Context, user xmpp.JID) error {
	mu := m.lock(user)
	mu.Lock()
	defer mu.Unlock()
	return removeAll(ctx, m.h.Storage(), user)
}

func (m *Module) lock(user xmpp.JID) *sync.Mutex {
	return &m.locks[maphash.String(m.seed, user.Bare().String())%uint64(len(m.locks))]
}

// unrouted stores what is worth storing; the rest goes on to be bounced.
func (m *Module) unrouted(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind != xmpp.KindMessage || st.To.IsZero() || !storable(st) {
			return next.HandleStanza(ctx, st)
		}
		return m.store(ctx, st)
	})
}

// storable reports whether a message is kept for later (XEP-0160 §3,
// XEP-0334): types normal and chat only; not with <no-store/>; and only
// with content beyond chat states, stanza ids and hints, unless <store/>
// asks for it. <no-permanent-store/> allows offline storage, which is
// temporary (XEP-0334 §4.2).
func storable(st *xmpp.Stanza) bool {
	switch st.Type {
	case "", "normal", "chat":
	default:
		return false
	}
	d := st.Decoder()
	depth := 0
	content, force := false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				switch n := t.Name; {
				case n.Space == NSHints && n.Local == "no-store":
					return false
				case n.Space == NSHints && n.Local == "store":
					force = true
				case n.Space == NSHints, n.Space == NSChatStates, n.Space == NSStanzaID,
					n.Space == xmpp.NSDelay, n.Space == xmpp.NSClient && n.Local == "thread":
				default:
					content = true
				}
			}
			depth++
		case xml.EndElement:
			depth--
			if depth < 0 { // the decoder's wrapper ended
				return content || force
			}
		}
	}
	return content || force
}

// store keeps st for its recipient, or hands it to the recipient's
// receivers that have had their replay (rule 3 of the package doc).
func (m *Module) store(ctx context.Context, st *xmpp.Stanza) error {
	user := st.To.Bare()
	mu := m.lock(user)
	mu.Lock()
	defer mu.Unlock()
	msg := st.Clone()
	now := m.now()
	msg.Inner = appendDelay(msg.Inner, user.Domain(), now)
	if m.handOver(ctx, user, msg) {
		return nil
	}
	be := m.h.Storage()
	c, err := count(ctx, be, user)
	if err != nil {
		return err
	}
	if c.n >= m.cfg.MaxPerUser {
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "the recipient's offline message queue is full")
	}
	return add(ctx, be, user, m.nextID(now, c.last), msg, c)
}

// handOver delivers msg to every session of user that is a receiver marked
// replayed, and reports whether one took it. Such a session exists only
// when routing raced with it becoming available: the message would
// otherwise wait in the store behind the replay already done. A session
// marked but no longer a receiver loses its mark, so that it is replayed to
// when it is one again, even if that presence never reaches this module.
// m.lock(user) must be held.
func (m *Module) handOver(ctx context.Context, user xmpp.JID, msg *xmpp.Stanza) bool {
	var rctx context.Context
	took := false
	for _, s := range m.h.Sessions().Resources(user) {
		switch {
		case !replayed(s):
			// Not a receiver, or one whose replay will include msg.
		case !receiver(s):
			s.SetValue(id, false)
		default:
			if rctx == nil {
				rctx = replaying(ctx)
			}
			if m.h.Deliver(rctx, s.JID(), msg) {
				took = true
			}
		}
	}
	return took
}

// nextID returns an id greater than every id handed out and than last.
func (m *Module) nextID(now time.Time, last uint64) uint64 {
	for {
		prev := m.last.Load()
		n := max(uint64(now.UnixNano()), prev+1, last+1)
		if m.last.CompareAndSwap(prev, n) {
			return n
		}
	}
}

// appendDelay appends the XEP-0203 delay element of offline storage.
func appendDelay(dst []byte, domain string, t time.Time) []byte {
	dst = append(dst, `<delay xmlns="`+xmpp.NSDelay+`" from="`...)
	dst = xmpp.AppendEscaped(dst, domain, true)
	dst = append(dst, `" stamp="`...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	return append(dst, `">Offline Storage</delay>`...)
}

// receiver reports whether s may receive messages sent to its bare JID
// (RFC 6121 §8.5.2.1): available with a non-negative priority.
func receiver(s modules.Session) bool { return s.Available() && s.Priority() >= 0 }

// replayed reports whether s had its replay since it last became a
// receiver. The mark is changed only under the user's lock.
func replayed(s modules.Session) bool {
	r, _ := s.Value(id).(bool)
	return r
}

type replayKey struct{}

// replaying marks ctx as carrying the replay's own deliveries, which the
// Deliver middleware lets through: it runs under the lock they would wait
// for.
func replaying(ctx context.Context) context.Context {
	return context.WithValue(ctx, replayKey{}, true)
}

func isReplay(ctx context.Context) bool { return ctx.Value(replayKey{}) != nil }

// inbound watches the broadcast presences the presence module passes on:
// a session that becomes a receiver gets the stored messages, unless a
// message for it got them there first (see deliver); one that stops being
// a receiver loses its mark, to be served again when it is one again.
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind == xmpp.KindPresence && st.To.IsZero() {
			if s := m.h.Sessions().Session(st.From); s != nil && receiver(s) != replayed(s) {
				m.sessionPresence(ctx, s)
			}
		}
		return next.HandleStanza(ctx, st)
	})
}

func (m *Module) sessionPresence(ctx context.Context, s modules.Session) {
	mu := m.lock(s.JID())
	mu.Lock()
	defer mu.Unlock()
	switch r := receiver(s); {
	case r && !replayed(s):
		m.replay(ctx, s)
	case !r && replayed(s):
		s.SetValue(id, false)
	}
}

// deliver runs the replay before a message reaches a receiver that has not
// had it, so that the user's stored messages, the sender's among them, come
// first (rule 2 of the package doc). Once the session is marked replayed,
// this is one Session.Value lookup per message.
func (m *Module) deliver(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind != xmpp.KindMessage {
			return next.HandleStanza(ctx, st)
		}
		s := modules.Target(ctx)
		if s == nil || replayed(s) || isReplay(ctx) || !receiver(s) {
			return next.HandleStanza(ctx, st)
		}
		mu := m.lock(s.JID())
		mu.Lock()
		if !replayed(s) && receiver(s) {
			m.replay(ctx, s)
		}
		mu.Unlock()
		return next.HandleStanza(ctx, st)
	})
}

// replay delivers the stored messages to s in order, deletes the delivered
// ones in one batch, and marks s replayed. A failure is logged: the mark is
// set anyway, so the replay is tried once per availability. m.lock(s's
// user) must be held.
func (m *Module) replay(ctx context.Context, s modules.Session) {
	if err := m.replayStored(replaying(ctx), s); err != nil {
		m.log.Error("offline replay", "session", s.JID(), "err", err)
	}
	s.SetValue(id, true)
}

func (m *Module) replayStored(ctx context.Context, s modules.Session) error {
	user := s.JID().Bare()
	be := m.h.Storage()
	c, err := count(ctx, be, user)
	if err != nil || c.n == 0 {
		return err
	}
	msgs, err := messages(ctx, be, user)
	if err != nil {
		return err
	}
	n := 0
	for _, msg := range msgs {
		if !m.h.Deliver(ctx, s.JID(), msg.st) {
			break // the session went away: keep the rest
		}
		n++
	}
	if n == 0 {
		return nil
	}
	c.n = max(len(msgs)-n, 0)
	return remove(ctx, be, user, msgs[:n], c)
}

// Interface guards.
var (
	_ modules.Module          = (*Module)(nil)
	_ modules.AccountObserver = (*Module)(nil)
)
