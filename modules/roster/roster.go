// Package roster implements roster management (RFC 6121 §2) with roster
// versioning (XEP-0237 1.3, folded into RFC 6121 §2.6), and the presence
// subscription state machine of RFC 6121 §3 and Appendix A that lives on
// roster items.
//
// The module answers roster gets and sets in the jabber:iq:roster
// namespace, pushes changes to interested resources and advertises
// versioning as a stream feature. Its Store is the API other modules read
// rosters through; its Outbound and Inbound methods are the subscription
// processing the presence module drives for the four subscription types,
// kept here so that a roster remove can cancel subscriptions the same way.
package roster

import (
	"context"
	"log/slog"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// NS is the roster namespace.
const NS = "jabber:iq:roster"

// NSVer is the roster versioning stream feature (XEP-0237 §2).
const NSVer = "urn:xmpp:features:rosterver"

const id = "roster"

func init() { modules.Register(new(Module)) }

// Module manages rosters.
type Module struct {
	h     modules.Host
	log   *slog.Logger
	cfg   Config
	store *Store
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:   id,
		XEPs: []int{237},
		New:  func() modules.Module { return new(Module) },
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
	m.store = NewStore(h.Storage())
	h.HandleIQ(NS, m.handleIQ)
	return nil
}

// StreamFeatures implements modules.StreamFeaturer: roster versioning is
// advertised once the client is authenticated (RFC 6121 §2.6.1).
func (m *Module) StreamFeatures(dst []byte, _ string, authenticated bool) []byte {
	if !authenticated {
		return dst
	}
	return append(dst, `<ver xmlns="`+NSVer+`"/>`...)
}

// AccountDeleted implements modules.AccountObserver: every subscription of
// the account is cancelled on the contacts' side, as a roster remove would,
// then the roster is deleted.
func (m *Module) AccountDeleted(ctx context.Context, user xmpp.JID) error {
	entries, err := m.store.Entries(ctx, user)
	if err != nil {
		return err
	}
	for _, it := range entries {
		if err := m.store.Unlink(ctx, m.h, user, it); err != nil {
			m.log.Warn("cancel subscriptions of a deleted account", "user", user, "contact", it.JID, "err", err)
		}
	}
	return m.store.DeleteAll(ctx, user)
}

// query is the <query/> of a roster get or set.
type query struct {
	Ver   *string     `xml:"ver,attr"`
	Items []queryItem `xml:"jabber:iq:roster item"`
}

type queryItem struct {
	JID          *string  `xml:"jid,attr"`
	Name         string   `xml:"name,attr"`
	Subscription string   `xml:"subscription,attr"`
	Groups       []string `xml:"jabber:iq:roster group"`
}

func (m *Module) handleIQ(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	user := iq.From.Bare()
	if !iq.To.IsZero() && iq.To != user {
		return nil, xmpp.NewStanzaError(xmpp.Forbidden, "a roster is managed by its own account only")
	}
	if !modules.PayloadIs(iq, NS, "query") {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected a roster query")
	}
	var q query
	if err := iq.UnmarshalPayload(&q); err != nil {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed roster query")
	}
	switch iq.Type {
	case "get":
		return m.get(ctx, iq, q)
	case "set":
		return nil, m.set(ctx, user, q)
	}
	return nil, xmpp.NewStanzaError(xmpp.BadRequest, "a roster request is a get or a set")
}

// get answers a roster get (RFC 6121 §2.1.3) and marks the session as an
// interested resource. A client holding the current version gets an empty
// result (RFC 6121 §2.6.3).
func (m *Module) get(ctx context.Context, iq *xmpp.Stanza, q query) ([]byte, error) {
	if s := m.h.Sessions().Session(iq.From); s != nil {
		s.SetInterested()
	}
	items, ver, err := m.store.Items(ctx, iq.From)
	if err != nil {
		return nil, err
	}
	if q.Ver != nil && *q.Ver != "" && *q.Ver == ver {
		return nil, nil
	}
	return appendQuery(nil, ver, items, false), nil
}

// set adds, updates or removes one item (RFC 6121 §2.3–2.5).
func (m *Module) set(ctx context.Context, user xmpp.JID, q query) error {
	if len(q.Items) != 1 {
		return xmpp.NewStanzaError(xmpp.BadRequest, "a roster set carries exactly one item")
	}
	qi := q.Items[0]
	if qi.JID == nil {
		return xmpp.NewStanzaError(xmpp.BadRequest, "the item has no jid")
	}
	contact, err := xmpp.ParseJID(*qi.JID)
	if err != nil {
		return xmpp.NewStanzaError(xmpp.JIDMalformed, "the item's jid is not a valid address")
	}
	if !contact.IsBare() {
		return xmpp.NewStanzaError(xmpp.BadRequest, "roster items are bare JIDs")
	}
	// RFC 6121 §2.1.2.5: in a roster set, a subscription other than
	// "remove" is ignored, as are 'ask' and 'approved' (§2.1.2.1–2).
	if qi.Subscription == "remove" {
		return m.remove(ctx, user, contact)
	}
	seen := make(map[string]bool, len(qi.Groups))
	for _, g := range qi.Groups {
		if seen[g] {
			return xmpp.NewStanzaError(xmpp.BadRequest, "duplicate group "+g)
		}
		seen[g] = true
	}
	if len(qi.Name) > m.cfg.MaxNameLength {
		return xmpp.NewStanzaError(xmpp.NotAcceptable, "the item's name is too long")
	}
	for _, g := range qi.Groups {
		switch {
		case g == "":
			return xmpp.NewStanzaError(xmpp.NotAcceptable, "empty group names are not allowed")
		case len(g) > m.cfg.MaxGroupLength:
			return xmpp.NewStanzaError(xmpp.NotAcceptable, "a group name is too long")
		}
	}
	c, err := m.store.Update(ctx, user, contact, func(it *Item, _ bool) bool {
		it.Name, it.Groups, it.Hidden = qi.Name, qi.Groups, false
		return true
	})
	if err != nil {
		return err
	}
	// RFC 6121 §2.3.2, §2.4.2: a successful set is always pushed.
	m.store.push(ctx, m.h, user, c.Item, false, c.Version)
	return nil
}

// remove deletes an item after cancelling the subscriptions in both
// directions (RFC 6121 §2.5.2), and pushes the removal.
func (m *Module) remove(ctx context.Context, user, contact xmpp.JID) error {
	it, ok, err := m.store.Item(ctx, user, contact)
	if err != nil {
		return err
	}
	if !ok {
		return xmpp.NewStanzaError(xmpp.ItemNotFound, "no such roster item")
	}
	if err := m.store.Unlink(ctx, m.h, user, it); err != nil {
		return err
	}
	ver, err := m.store.Remove(ctx, user, contact)
	if err != nil {
		return err
	}
	m.store.push(ctx, m.h, user, it, true, ver)
	return nil
}

var (
	_ modules.Module          = (*Module)(nil)
	_ modules.StreamFeaturer  = (*Module)(nil)
	_ modules.AccountObserver = (*Module)(nil)
)
