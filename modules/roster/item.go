package roster

import (
	"encoding/xml"
	"slices"

	"github.com/parley-im/parley/xmpp"
)

// Subscription is the presence subscription state of a roster item
// (RFC 6121 §2.1.2.5). It is a bit set: To and From combine into Both.
type Subscription uint8

// Subscription states.
const (
	None Subscription = 0 // neither side is subscribed
	To   Subscription = 1 // the user is subscribed to the contact's presence
	From Subscription = 2 // the contact is subscribed to the user's presence
	Both              = To | From
)

// String returns the value of the 'subscription' attribute.
func (s Subscription) String() string {
	switch s {
	case To:
		return "to"
	case From:
		return "from"
	case Both:
		return "both"
	}
	return "none"
}

// Item is one contact in a user's roster, with the subscription state the
// server keeps for it (RFC 6121 §2.1.2 and Appendix A).
type Item struct {
	JID          xmpp.JID // bare
	Name         string
	Subscription Subscription
	Ask          bool // pending-out ("ask='subscribe'")
	PendingIn    bool // an inbound request awaits the user's approval
	PreApproved  bool // RFC 6121 §3.4 pre-approval ("approved='true'")
	Groups       []string

	// Hidden marks a stored entry that is not in the user's roster: a
	// contact who sent a subscription request the user has not answered
	// and never added (RFC 6121 §3.1.3: such a contact is not a roster
	// item until approved). Hidden entries appear in neither roster
	// results nor pushes; the user adding, approving or subscribing to the
	// contact makes the entry a roster item.
	Hidden bool

	// Request is the pending inbound subscription request as it arrived
	// (nil if none was kept), redelivered on every initial presence until
	// the user approves or denies it (RFC 6121 §3.1.3).
	Request *Request
}

// Request is a stored subscription request: the parts of the subscribe
// presence that are not its routing header, so that it can be delivered
// again exactly as received (status text, nickname, other extensions).
type Request struct {
	Lang    string      `json:"lang,omitempty"`
	Attrs   []xmpp.Attr `json:"attrs,omitempty"`
	Payload xml.Name    `json:"payload"`
	Inner   []byte      `json:"inner,omitempty"`
}

// RequestStanza returns the subscribe presence from it.JID to user that
// redelivers the stored request (an empty one if none was kept).
func (it Item) RequestStanza(user xmpp.JID) *xmpp.Stanza {
	st := &xmpp.Stanza{
		Kind:  xmpp.KindPresence,
		Name:  "presence",
		Space: xmpp.NSClient,
		Type:  Subscribe,
		From:  it.JID,
		To:    user.Bare(),
	}
	if r := it.Request; r != nil {
		st.Lang = r.Lang
		st.Attrs = slices.Clone(r.Attrs)
		st.Payload = r.Payload
		st.Inner = slices.Clone(r.Inner)
	}
	return st
}

func requestOf(st *xmpp.Stanza) *Request {
	return &Request{
		Lang:    st.Lang,
		Attrs:   slices.Clone(st.Attrs),
		Payload: st.Payload,
		Inner:   slices.Clone(st.Inner),
	}
}

// listed reports whether the entry is a roster item as clients see it.
func (it Item) listed() bool { return !it.Hidden }

// sameView reports whether a and b look the same in a roster result or
// push: PendingIn, Hidden and Request are the server's own business.
func sameView(a, b Item) bool {
	return a.JID == b.JID && a.Name == b.Name && a.Subscription == b.Subscription &&
		a.Ask == b.Ask && a.PreApproved == b.PreApproved && slices.Equal(a.Groups, b.Groups)
}

// vacant reports whether a hidden entry holds nothing worth keeping.
func (it Item) vacant() bool {
	return it.Hidden && it.Subscription == None && !it.Ask && !it.PendingIn && !it.PreApproved
}

// appendItem appends the <item/> element of it; removed writes the
// subscription='remove' form of a roster push (RFC 6121 §2.5.2).
func appendItem(dst []byte, it Item, removed bool) []byte {
	dst = append(dst, `<item jid="`...)
	dst = xmpp.AppendEscaped(dst, it.JID.String(), true)
	dst = append(dst, '"')
	if removed {
		return append(dst, ` subscription="remove"/>`...)
	}
	if it.Name != "" {
		dst = append(dst, ` name="`...)
		dst = xmpp.AppendEscaped(dst, it.Name, true)
		dst = append(dst, '"')
	}
	dst = append(dst, ` subscription="`...)
	dst = append(dst, it.Subscription.String()...)
	dst = append(dst, '"')
	if it.Ask {
		dst = append(dst, ` ask="subscribe"`...)
	}
	if it.PreApproved {
		dst = append(dst, ` approved="true"`...)
	}
	if len(it.Groups) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, g := range it.Groups {
		dst = append(dst, "<group>"...)
		dst = xmpp.AppendEscaped(dst, g, false)
		dst = append(dst, "</group>"...)
	}
	return append(dst, "</item>"...)
}

// appendQuery appends a <query/> holding items, with ver when not empty.
func appendQuery(dst []byte, ver string, items []Item, removed bool) []byte {
	dst = append(dst, `<query xmlns="`+NS+`"`...)
	if ver != "" {
		dst = append(dst, ` ver="`...)
		dst = xmpp.AppendEscaped(dst, ver, true)
		dst = append(dst, '"')
	}
	if len(items) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, it := range items {
		dst = appendItem(dst, it, removed)
	}
	return append(dst, "</query>"...)
}
