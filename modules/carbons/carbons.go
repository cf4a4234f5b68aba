// Package carbons implements XEP-0280: Message Carbons (version 1.0.1):
// a client that enables carbons gets a copy of the chat messages its
// account sends and receives on its other resources, so every device
// sees both sides of each conversation.
//
// The module answers the enable and disable requests, copies a message a
// local user sends to the sender's other carbons-enabled resources (a
// <sent/> copy, at the Inbound stage, once the message is routed) and
// copies a message a local user receives to each carbons-enabled resource
// of the recipient that did not get the original (a <received/> copy, at
// the Deliver stage).
package carbons

import (
	"bytes"
	"context"
	"encoding/xml"
	"sync"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// NS is the carbons namespace; NSForward is XEP-0297's, which wraps each
// copy; NSHints is XEP-0334's, whose <no-copy/> opts a message out.
const (
	NS        = "urn:xmpp:carbons:2"
	NSForward = "urn:xmpp:forward:0"
	NSHints   = "urn:xmpp:hints"
)

// id keys the per-session "carbons enabled" value.
const id = "carbons"

func init() { modules.Register(new(Module)) }

// Module copies messages between the resources of an account.
type Module struct {
	h modules.Host

	// enabled counts the carbons-enabled sessions of each account, so
	// a message for an account with none costs one map lookup.
	mu      sync.Mutex
	enabled map[xmpp.JID]int
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       id,
		XEPs:     []int{280},
		Features: []string{NS},
		New:      func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h = h
	m.enabled = make(map[xmpp.JID]int)
	h.HandleIQ(NS, m.handleIQ)
	h.Use(modules.Inbound, m.outbound)
	h.Use(modules.Deliver, m.inbound)
	return nil
}

// SessionBound implements modules.SessionObserver.
func (*Module) SessionBound(context.Context, modules.Session) {}

// SessionClosed implements modules.SessionObserver: a closed session no
// longer counts as carbons-enabled.
func (m *Module) SessionClosed(_ context.Context, s modules.Session) {
	m.set(s, false)
}

// handleIQ enables or disables carbons for the requesting session
// (XEP-0280 §4, §5). Repeated requests are answered with a result
// (§10.1).
func (m *Module) handleIQ(_ context.Context, iq *xmpp.Stanza) ([]byte, error) {
	switch {
	case iq.Type != "set":
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "carbons are enabled and disabled with an IQ-set")
	case iq.To.Local() != "" && iq.To.Bare() != iq.From.Bare():
		return nil, xmpp.NewStanzaError(xmpp.NotAllowed, "carbons can be changed only for one's own session")
	case iq.Payload.Local != "enable" && iq.Payload.Local != "disable":
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected <enable/> or <disable/>")
	}
	s := m.h.Sessions().Session(iq.From)
	if s == nil {
		return nil, xmpp.NewStanzaError(xmpp.NotAllowed, "no session is bound to "+iq.From.String())
	}
	m.set(s, iq.Payload.Local == "enable")
	return nil, nil
}

// set records whether s has carbons enabled and keeps the account's count.
func (m *Module) set(s modules.Session, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was, _ := s.Value(id).(bool)
	if was == on {
		return
	}
	s.SetValue(id, on)
	bare := s.JID().Bare()
	if on {
		m.enabled[bare]++
		return
	}
	if m.enabled[bare] <= 1 {
		delete(m.enabled, bare)
	} else {
		m.enabled[bare]--
	}
}

func (m *Module) anyEnabled(bare xmpp.JID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.enabled[bare] > 0
}

func enabled(s modules.Session) bool {
	on, _ := s.Value(id).(bool)
	return on
}

// outbound routes a message a client sends, then gives each other
// carbons-enabled resource of the sender a <sent/> copy (XEP-0280 §7),
// whether or not the sending client has carbons enabled. A message to the
// sender's own account is left alone: its resources get it by routing.
func (m *Module) outbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		from := st.From.Bare()
		if st.Kind != xmpp.KindMessage || st.To.IsZero() || st.To.Bare() == from ||
			!m.anyEnabled(from) || !eligible(st) {
			return next.HandleStanza(ctx, st)
		}
		// The copy is built before routing: the stanza may not be
		// ours once next returns.
		c := wrap("sent", st, from)
		if err := next.HandleStanza(ctx, st); err != nil {
			return err
		}
		for _, s := range m.h.Sessions().Resources(from) {
			if to := s.JID(); to != st.From && enabled(s) {
				c.To = to
				m.h.Deliver(ctx, to, c)
			}
		}
		return nil
	})
}

// inbound delivers a message to its recipient session, then gives each
// carbons-enabled resource of the recipient that did not get the original
// under RFC 6121 §8.5 a <received/> copy (XEP-0280 §6). For a message
// delivered to several resources this is done once, on the delivery to
// the first of them.
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		target := modules.Target(ctx)
		if st.Kind != xmpp.KindMessage || target == nil {
			return next.HandleStanza(ctx, st)
		}
		if err := next.HandleStanza(ctx, st); err != nil {
			return err
		}
		owner := target.JID().Bare()
		if st.To.Bare() != owner || st.From.Bare() == owner || !m.anyEnabled(owner) || !eligible(st) {
			return nil
		}
		all := m.h.Sessions().Resources(owner)
		var got func(modules.Session) bool
		if !st.To.IsBare() && m.h.Sessions().Session(st.To) != nil {
			// Directed to a bound resource: only the target has it.
			got = func(s modules.Session) bool { return s.JID() == target.JID() }
		} else {
			got = receivers(st.Type, all)
			if first := firstOf(all, got); first == nil || first.JID() != target.JID() {
				return nil
			}
		}
		var c *xmpp.Stanza
		for _, s := range all {
			if got(s) || !enabled(s) {
				continue
			}
			if c == nil {
				c = wrap("received", st, owner)
			}
			c.To = s.JID()
			m.h.Deliver(ctx, c.To, c)
		}
		return nil
	})
}

// receivers reports which of an account's sessions get a message of type
// typ addressed to the bare JID, by RFC 6121 §8.5.2.1.1 as the router
// applies it: a chat message goes to every available resource of
// non-negative priority, a normal one to those of the highest
// non-negative priority.
func receivers(typ string, all []modules.Session) func(modules.Session) bool {
	if typ == "chat" {
		return func(s modules.Session) bool { return s.Available() && s.Priority() >= 0 }
	}
	best := int8(-1)
	for _, s := range all {
		if p := s.Priority(); s.Available() && p > best {
			best = p
		}
	}
	return func(s modules.Session) bool { return best >= 0 && s.Available() && s.Priority() == best }
}

func firstOf(all []modules.Session, got func(modules.Session) bool) modules.Session {
	for _, s := range all {
		if got(s) {
			return s
		}
	}
	return nil
}

// eligible applies the delivery rules of XEP-0280 §6.1: a message of type
// chat, or of type normal with a body, unless it is itself a carbon copy,
// is marked <private/> (§8) or carries XEP-0334's <no-copy/> hint.
func eligible(st *xmpp.Stanza) bool {
	needBody := false
	switch st.Type {
	case "chat":
	case "", "normal":
		if !bytes.Contains(st.Inner, []byte("<body")) {
			return false
		}
		needBody = true
	default:
		return false
	}
	if !needBody && !bytes.Contains(st.Inner, []byte(NS)) && !bytes.Contains(st.Inner, []byte(NSHints)) {
		return true
	}
	body := false
	d := st.Decoder()
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return !needBody || body
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				switch t.Name {
				case xml.Name{Space: NS, Local: "private"},
					xml.Name{Space: NS, Local: "sent"},
					xml.Name{Space: NS, Local: "received"},
					xml.Name{Space: NSHints, Local: "no-copy"}:
					return false
				case xml.Name{Space: st.Space, Local: "body"}:
					body = true
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// wrap returns the copy of orig for one of owner's resources: a message
// of the same type from owner's bare JID holding <kind/> (sent or
// received) with orig forwarded inside (XEP-0297). The caller sets To.
func wrap(kind string, orig *xmpp.Stanza, owner xmpp.JID) *xmpp.Stanza {
	inner := make([]byte, 0, len(orig.Inner)+256)
	inner = append(inner, `<`+kind+` xmlns="`+NS+`"><forwarded xmlns="`+NSForward+`">`...)
	inner = orig.Append(inner, "")
	inner = append(inner, `</forwarded></`+kind+`>`...)
	return &xmpp.Stanza{
		Kind: xmpp.KindMessage, Name: "message", Space: xmpp.NSClient,
		Type: orig.Type, From: owner,
		Payload: xml.Name{Space: NS, Local: kind},
		Inner:   inner,
	}
}

var (
	_ modules.Module          = (*Module)(nil)
	_ modules.SessionObserver = (*Module)(nil)
)
