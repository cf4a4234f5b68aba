package roster

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// The presence types that manage subscriptions (RFC 6121 §3).
const (
	Subscribe    = "subscribe"
	Subscribed   = "subscribed"
	Unsubscribe  = "unsubscribe"
	Unsubscribed = "unsubscribed"
)

// IsSubscription reports whether typ is one of the four subscription types.
func IsSubscription(typ string) bool {
	switch typ {
	case Subscribe, Subscribed, Unsubscribe, Unsubscribed:
		return true
	}
	return false
}

// effect is what a subscription stanza does besides changing an entry.
type effect struct {
	changed  bool // the entry changed and must be stored
	forward  bool // outbound: route it to the contact; inbound: deliver it to the user
	lostFrom bool // the contact's subscription to the user ended
	gainedTo bool // inbound subscribed: the user is now subscribed to the contact
	approve  bool // inbound subscribe: answer "subscribed" on the user's behalf
}

// outbound applies a subscription stanza the user sends to the contact to
// the user's entry for the contact: RFC 6121 Appendix A.2, with §3.4
// pre-approval in the rows of A.2.3 the table leaves unchanged.
func outbound(typ string, it *Item) effect {
	old := *it
	var e effect
	switch typ {
	case Subscribe: // A.2.1: always routed
		e.forward = true
		if it.Subscription&To == 0 {
			it.Ask = true
		}
		it.Hidden = false
	case Unsubscribe: // A.2.2: always routed
		e.forward = true
		it.Ask = false
		it.Subscription &^= To
	case Subscribed: // A.2.3
		switch {
		case it.Subscription&From != 0:
			// "From", "From + Pending Out", "Both": nothing to approve.
		case it.PendingIn:
			e.forward = true
			it.Subscription |= From
			it.PendingIn, it.PreApproved, it.Hidden = false, false, false
		default:
			// "None", "None + Pending Out", "To": pre-approval (§3.4.2),
			// shown in the roster as approved='true'.
			it.PreApproved, it.Hidden = true, false
		}
	case Unsubscribed: // A.2.4
		if it.PendingIn || it.Subscription&From != 0 {
			e.forward = true
			e.lostFrom = it.Subscription&From != 0
			it.PendingIn = false
			it.Subscription &^= From
		}
		// Denying also withdraws a pre-approval (§3.4.2).
		it.PreApproved = false
	}
	e.changed = !sameEntry(old, *it)
	return e
}

// inbound applies a subscription stanza from the contact to the user's
// entry for the contact: RFC 6121 Appendix A.3. exists tells a stored entry
// from a new one; req is the request to keep with an inbound subscribe.
func inbound(typ string, it *Item, exists bool, req *Request) effect {
	old := *it
	var e effect
	switch typ {
	case Subscribe: // A.3.1
		switch {
		case it.Subscription&From != 0:
			// Already subscribed: approve again, deliver nothing (§3.1.3).
			e.approve = true
		case it.PendingIn:
			// A duplicate request.
		case it.PreApproved:
			// §3.4.2: the pre-approval answers the request.
			e.approve = true
			it.Subscription |= From
			it.PreApproved = false
		default:
			e.forward = true
			it.PendingIn, it.Request = true, req
			if !exists {
				it.Hidden = true
			}
		}
	case Unsubscribe: // A.3.2
		if it.PendingIn || it.Subscription&From != 0 {
			e.forward = true
			e.lostFrom = it.Subscription&From != 0
			it.PendingIn = false
			it.Subscription &^= From
		}
	case Subscribed: // A.3.3
		if it.Ask && it.Subscription&To == 0 {
			e.forward, e.gainedTo = true, true
			it.Ask = false
			it.Subscription |= To
		}
	case Unsubscribed: // A.3.4
		if it.Ask || it.Subscription&To != 0 {
			e.forward = true
			it.Ask = false
			it.Subscription &^= To
		}
	}
	e.changed = !sameEntry(old, *it)
	return e
}

// sameEntry compares the stored state of two entries.
func sameEntry(a, b Item) bool {
	return sameView(a, b) && a.PendingIn == b.PendingIn && a.Hidden == b.Hidden && a.Request == b.Request
}

// Outbound processes a subscription stanza a local user sends (st.From, the
// user's full or bare JID) to a contact (st.To): the user's roster changes
// as RFC 6121 Appendix A.2 says and is pushed if clients see a change; the
// stanza, stamped with both bare JIDs, then goes to the contact — through
// inbound processing for a contact on a local domain, through Host.Route
// otherwise. Duplicate and meaningless stanzas stop at the user's server.
func (s *Store) Outbound(ctx context.Context, h modules.Host, st *xmpp.Stanza) error {
	if !IsSubscription(st.Type) {
		return fmt.Errorf("roster: %q is not a subscription type", st.Type)
	}
	user, contact := st.From.Bare(), st.To.Bare()
	var e effect
	c, err := s.Update(ctx, user, contact, func(it *Item, _ bool) bool {
		e = outbound(st.Type, it)
		return e.changed
	})
	if err != nil {
		return err
	}
	s.PushChange(ctx, h, user, c)
	if e.forward {
		out := st.Clone()
		out.From, out.To = user, contact
		if err := s.forward(ctx, h, out); err != nil {
			return err
		}
	}
	if e.lostFrom {
		sendUnavailable(ctx, h, user, contact)
	}
	return nil
}

// Inbound processes a subscription stanza for a local user (st.To) from a
// contact (st.From), both bare: RFC 6121 Appendix A.3. A change the user's
// clients can see is pushed; a stanza the table delivers goes to every
// available session of the user. A subscribe is also kept as pending and
// redelivered on each initial presence until answered; it is answered at
// once with "subscribed" if the contact is already subscribed or was
// pre-approved. When a subscription is approved, the approver's current
// presence follows. A subscribe to an account that does not exist is
// answered with "unsubscribed" (RFC 6121 §3.1.3).
func (s *Store) Inbound(ctx context.Context, h modules.Host, st *xmpp.Stanza) error {
	if !IsSubscription(st.Type) {
		return fmt.Errorf("roster: %q is not a subscription type", st.Type)
	}
	user, contact := st.To.Bare(), st.From.Bare()
	ok, err := h.Accounts().Exists(ctx, user)
	if err != nil {
		return fmt.Errorf("roster: account %s: %w", user, err)
	}
	if !ok {
		if st.Type == Subscribe {
			return s.forward(ctx, h, presence(user, contact, Unsubscribed))
		}
		return nil
	}
	var req *Request
	if st.Type == Subscribe {
		req = requestOf(st)
	}
	var e effect
	c, err := s.Update(ctx, user, contact, func(it *Item, exists bool) bool {
		e = inbound(st.Type, it, exists, req)
		return e.changed
	})
	if err != nil {
		return err
	}
	s.PushChange(ctx, h, user, c)
	if e.forward {
		out := st.Clone()
		out.From, out.To = contact, user
		for _, sess := range h.Sessions().Resources(user) {
			if sess.Available() {
				h.Deliver(ctx, sess.JID(), out)
			}
		}
	}
	if e.lostFrom {
		sendUnavailable(ctx, h, user, contact)
	}
	if e.gainedTo {
		sendPresence(ctx, h, contact, user)
	}
	if e.approve {
		return s.forward(ctx, h, presence(user, contact, Subscribed))
	}
	return nil
}

// Unlink ends every relation between user and the contact of it before
// the entry is deleted (roster remove, RFC 6121 §2.5.2; account deletion):
// an "unsubscribe" if the user is subscribed to the contact or asked to
// be, an "unsubscribed" if the contact is subscribed to the user or asked
// to be, each processed on the contact's side. The user's own entry is left
// for the caller to delete.
func (s *Store) Unlink(ctx context.Context, h modules.Host, user xmpp.JID, it Item) error {
	user = user.Bare()
	if it.Ask || it.Subscription&To != 0 {
		if err := s.forward(ctx, h, presence(user, it.JID, Unsubscribe)); err != nil {
			return err
		}
	}
	if it.PendingIn || it.Subscription&From != 0 {
		if err := s.forward(ctx, h, presence(user, it.JID, Unsubscribed)); err != nil {
			return err
		}
		if it.Subscription&From != 0 {
			sendUnavailable(ctx, h, user, it.JID)
		}
	}
	return nil
}

// forward hands a subscription stanza from a local user to the contact's
// side: inbound processing for an account on a local domain, routing for
// anyone else (which, with no federation, bounces with an error).
func (s *Store) forward(ctx context.Context, h modules.Host, st *xmpp.Stanza) error {
	if !LocalAccount(h, st.To) {
		if err := h.Route(ctx, st); err != nil {
			return fmt.Errorf("roster: route %s to %s: %w", st.Type, st.To, err)
		}
		if st.Type == Subscribed {
			// A remote requester learns the approver's presence from us.
			sendPresence(ctx, h, st.From, st.To)
		}
		return nil
	}
	return s.Inbound(ctx, h, st)
}

// LocalAccount reports whether j is the address of an account on one of
// the server's domains (as opposed to a domain or a remote user).
func LocalAccount(h modules.Host, j xmpp.JID) bool {
	return j.Local() != "" && h.IsLocal(j.Domain())
}

func presence(from, to xmpp.JID, typ string) *xmpp.Stanza {
	return &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, Type: typ, From: from, To: to}
}

// sendPresence sends the current presence of each available session of
// user (a local account) to contact: to each of its available sessions if
// it is a local account, routed otherwise.
func sendPresence(ctx context.Context, h modules.Host, user, contact xmpp.JID) {
	for _, sess := range h.Sessions().Resources(user) {
		p := sess.Presence()
		if p == nil {
			continue
		}
		out := p.Clone()
		out.From, out.To = sess.JID(), contact
		toAccount(ctx, h, out)
	}
}

// sendUnavailable tells contact that user's presence is no longer visible
// to it: unavailable presence from each of user's available sessions
// (RFC 6121 §3.2.2, §3.3.3).
func sendUnavailable(ctx context.Context, h modules.Host, user, contact xmpp.JID) {
	out := presence(xmpp.JID{}, contact, "unavailable")
	for _, sess := range h.Sessions().Resources(user) {
		if sess.Available() {
			out.From = sess.JID()
			toAccount(ctx, h, out)
		}
	}
}

// toAccount delivers st to every available session of st.To (a bare JID)
// if it is a local account, and routes it otherwise.
func toAccount(ctx context.Context, h modules.Host, st *xmpp.Stanza) {
	if !LocalAccount(h, st.To) {
		if err := h.Route(ctx, st); err != nil {
			h.Logger().Warn("route presence", "to", st.To, "err", err)
		}
		return
	}
	for _, sess := range h.Sessions().Resources(st.To) {
		if sess.Available() {
			h.Deliver(ctx, sess.JID(), st)
		}
	}
}
