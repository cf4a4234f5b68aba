// Package offline implements XEP-0160: Best Practices for Handling Offline
// Messages (version 1.0.1), with XEP-0203 delay stamps and the XEP-0334
// storage hints.
//
// Messages of type normal or chat (or with no type) for an account with no
// session that may receive them reach the Unrouted stage; those with
// content worth keeping are stored per user and replayed, in order, to the
// first session that becomes available with a non-negative priority, then
// deleted. What is not stored goes on down the chain, whose end bounces
// it with service-unavailable.
//
// This is a deliberately small store: a later issue replaces it with the
// sequenced per-user inbox of the design.
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
	locks [32]sync.Mutex // serialise store and replay per user
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
	h.Use(modules.Unrouted, m.unrouted)
	h.Use(modules.Inbound, m.inbound)
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

func (m *Module) store(ctx context.Context, st *xmpp.Stanza) error {
	user := st.To.Bare()
	mu := m.lock(user)
	mu.Lock()
	defer mu.Unlock()
	be := m.h.Storage()
	c, err := count(ctx, be, user)
	if err != nil {
		return err
	}
	if c.n >= m.cfg.MaxPerUser {
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "the recipient's offline message queue is full")
	}
	msg := st.Clone()
	now := m.now()
	msg.Inner = appendDelay(msg.Inner, user.Domain(), now)
	return add(ctx, be, user, m.nextID(now, c.last), msg, c)
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

// inbound watches the broadcast presences the presence module passes on:
// a session that becomes available with a non-negative priority gets the
// stored messages. Value(id) remembers that a session was served, until
// it stops being a receiver (unavailable or negative priority).
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind == xmpp.KindPresence && st.To.IsZero() {
			if s := m.h.Sessions().Session(st.From); s != nil {
				m.sessionPresence(ctx, s)
			}
		}
		return next.HandleStanza(ctx, st)
	})
}

func (m *Module) sessionPresence(ctx context.Context, s modules.Session) {
	receiver := s.Available() && s.Priority() >= 0
	served, _ := s.Value(id).(bool)
	switch {
	case receiver && !served:
		s.SetValue(id, true)
		if err := m.replay(ctx, s); err != nil {
			m.log.Error("offline replay", "session", s.JID(), "err", err)
		}
	case !receiver && served:
		s.SetValue(id, false)
	}
}

// replay delivers the stored messages to s in order and then deletes the
// delivered ones in one batch.
func (m *Module) replay(ctx context.Context, s modules.Session) error {
	user := s.JID().Bare()
	mu := m.lock(user)
	mu.Lock()
	defer mu.Unlock()
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
