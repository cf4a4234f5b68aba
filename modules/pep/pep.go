// Package pep implements XEP-0163: Personal Eventing Protocol (version
// 1.2.2) with the subset of XEP-0060: Publish-Subscribe (version 1.30.0) it needs and
// XEP-0223: Persistent Storage of Private Data via PubSub.
//
// Every account is a pubsub service at its bare JID. The owner publishes
// (nodes are created on first publish, configured by publish-options),
// retracts, purges, deletes and configures; others retrieve items as the
// node's access model allows (open, presence — the default —, roster
// groups, whitelist). Notifications go, as headline messages from the
// owner's bare JID, to the owner's sessions and to contacts with a
// presence subscription whose client advertised <node>+notify in its
// entity capabilities; a session that becomes available gets the last
// item of each node it is interested in.
//
// The Service type is the whole service over a Host's storage and
// sessions; the vcard module (XEP-0398 avatars) and the private module
// (XEP-0402 bookmarks compatibility) publish through it.
package pep

import (
	"context"
	"encoding/xml"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/caps"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

// Namespaces of XEP-0060 and XEP-0004.
const (
	NS          = "http://jabber.org/protocol/pubsub"
	NSOwner     = "http://jabber.org/protocol/pubsub#owner"
	NSEvent     = "http://jabber.org/protocol/pubsub#event"
	NSErrors    = "http://jabber.org/protocol/pubsub#errors"
	NSDataForms = "jabber:x:data"
)

const id = "pep"

// capsWait bounds how long a newly available session's capabilities are
// awaited before its last items are sent.
const capsWait = 10 * time.Second

func init() { modules.Register(new(Module)) }

// Module is the pep module.
type Module struct {
	h   modules.Host
	log *slog.Logger
	svc *Service
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	features := []string{NS}
	for _, f := range []string{
		"access-open", "access-presence", "access-roster", "access-whitelist",
		"auto-create", "auto-subscribe", "config-node", "config-node-max",
		"create-and-configure", "create-nodes", "delete-items", "delete-nodes",
		"filtered-notifications", "item-ids", "last-published", "multi-items",
		"persistent-items", "publish", "publish-options", "purge-nodes",
		"retract-items", "retrieve-default", "retrieve-items",
	} {
		features = append(features, NS+"#"+f)
	}
	return modules.Info{
		ID:                id,
		XEPs:              []int{60, 163, 223},
		AccountFeatures:   features,
		AccountIdentities: []modules.Identity{{Category: "pubsub", Type: "pep"}},
		New:               func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h, m.log = h, h.Logger()
	m.svc = NewService(h)
	h.HandleIQ(NS, m.handlePubsub)
	h.HandleIQ(NSOwner, m.handleOwner)
	h.Use(modules.Inbound, m.inbound)
	h.Use(modules.Deliver, m.deliver)
	return nil
}

// AccountDeleted implements modules.AccountObserver.
func (m *Module) AccountDeleted(ctx context.Context, user xmpp.JID) error {
	return deleteAll(ctx, m.h.Storage(), user)
}

// owner resolves the service an IQ is addressed to: the sender's own (no
// 'to', or its bare JID) or another existing local account's.
func (m *Module) owner(ctx context.Context, iq *xmpp.Stanza) (xmpp.JID, error) {
	to := iq.To
	switch {
	case to.IsZero() || to == iq.From.Bare():
		return iq.From.Bare(), nil
	case to.Local() == "" || !to.IsBare():
		return xmpp.JID{}, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "no pubsub service here")
	}
	ok, err := m.h.Accounts().Exists(ctx, to)
	if err != nil {
		return xmpp.JID{}, err
	}
	if !ok {
		return xmpp.JID{}, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	return to, nil
}

// request is a parsed <pubsub/> element.
type request struct {
	op       string // local name of the action element
	node     string
	items    []Item   // publish
	ids      []string // items, retract
	maxItems int      // items: 0 for all
	notify   bool     // retract
	form     Form     // publish-options, or configure with create/configure
	cancel   bool     // a configure form of type cancel
	badItem  string   // a pubsub#errors condition found while parsing
}

// parse reads the children of the <pubsub/> payload of iq.
func parse(iq *xmpp.Stanza) (*request, error) {
	d := iq.Decoder()
	var r request
	if _, err := xmpp.NextStart(d); err != nil { // <pubsub>
		return nil, err
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			if _, end := tok.(xml.EndElement); end {
				return &r, nil
			}
			continue
		}
		switch t.Name.Local {
		case "publish-options", "configure":
			if r.op == "" && t.Name.Local == "configure" {
				r.op, r.node = "configure", attr(t, "node")
			}
			if r.form, r.cancel, _, err = readForm(d); err != nil {
				return nil, err
			}
			continue
		}
		if r.op != "" {
			if err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		r.op, r.node = t.Name.Local, attr(t, "node")
		switch r.op {
		case "publish":
			err = r.readPublish(d)
		case "items", "retract":
			if v := attr(t, "max_items"); v != "" {
				if r.maxItems, err = strconv.Atoi(v); err != nil || r.maxItems < 1 {
					return nil, xmpp.NewStanzaError(xmpp.BadRequest, "max_items must be a positive number")
				}
			}
			if v := attr(t, "notify"); v == "1" || v == "true" {
				r.notify = true
			}
			err = r.readIDs(d)
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, err
		}
	}
}

func (r *request) readPublish(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local != "item" {
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			it := Item{ID: attr(t, "id")}
			n := 0
			for {
				tok, err := d.Token()
				if err != nil {
					return err
				}
				if _, end := tok.(xml.EndElement); end {
					break
				}
				if st, ok := tok.(xml.StartElement); ok {
					n++
					if it.Payload, err = AppendElement(it.Payload[:0], d, st, ""); err != nil {
						return err
					}
				}
			}
			if n > 1 {
				r.badItem = "invalid-payload"
			}
			r.items = append(r.items, it)
		}
	}
}

func (r *request) readIDs(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local == "item" {
				if id := attr(t, "id"); id != "" {
					r.ids = append(r.ids, id)
				} else {
					r.badItem = "item-required"
				}
			}
			if err := d.Skip(); err != nil {
				return err
			}
		}
	}
}

func (m *Module) handlePubsub(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	owner, err := m.owner(ctx, iq)
	if err != nil {
		return nil, err
	}
	r, err := parse(iq)
	if err != nil {
		if _, ok := err.(*xmpp.StanzaError); ok {
			return nil, err
		}
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed pubsub request")
	}
	feature := map[string]string{
		"subscribe": "subscribe", "unsubscribe": "subscribe", "options": "subscription-options",
		"subscriptions": "retrieve-subscriptions", "affiliations": "retrieve-affiliations",
	}[r.op]
	if feature != "" {
		return nil, pubsubError(xmpp.FeatureNotImplemented, "unsupported", feature)
	}
	isOwner := owner == iq.From.Bare()
	switch {
	case iq.Type == "get" && r.op == "items":
		return m.items(ctx, owner, iq.From, r)
	case iq.Type == "set" && !isOwner:
		return nil, xmpp.NewStanzaError(xmpp.Forbidden, "only the account owner may change its nodes")
	case iq.Type == "set" && r.op == "publish":
		if r.badItem != "" {
			return nil, pubsubError(xmpp.BadRequest, r.badItem, "")
		}
		ids, err := m.svc.Publish(ctx, owner, iq.From, r.node, r.items, r.form)
		if err != nil {
			return nil, err
		}
		out := []byte(`<pubsub xmlns="` + NS + `"><publish`)
		out = appendAttr(out, "node", r.node)
		out = append(out, '>')
		for _, id := range ids {
			out = appendAttr(append(out, "<item"...), "id", id)
			out = append(out, "/>"...)
		}
		return append(out, "</publish></pubsub>"...), nil
	case iq.Type == "set" && r.op == "retract":
		switch {
		case r.node == "":
			return nil, pubsubError(xmpp.BadRequest, "nodeid-required", "")
		case r.badItem != "" || len(r.ids) == 0:
			return nil, pubsubError(xmpp.BadRequest, "item-required", "")
		}
		return nil, m.svc.Retract(ctx, owner, r.node, r.ids, r.notify)
	case iq.Type == "set" && r.op == "create":
		if r.cancel {
			r.form = nil
		}
		return nil, m.svc.Create(ctx, owner, r.node, r.form)
	}
	return nil, xmpp.NewStanzaError(xmpp.BadRequest, "unexpected pubsub request")
}

// items answers a retrieval (XEP-0060 §6.5).
func (m *Module) items(ctx context.Context, owner, requester xmpp.JID, r *request) ([]byte, error) {
	if r.node == "" {
		return nil, pubsubError(xmpp.BadRequest, "nodeid-required", "")
	}
	cfg, ok, err := m.svc.Config(ctx, owner, r.node)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
	}
	if err := m.svc.access(ctx, owner, requester, cfg); err != nil {
		return nil, err
	}
	stored, err := loadItems(ctx, m.h.Storage(), owner, r.node)
	if err != nil {
		return nil, err
	}
	if len(r.ids) > 0 {
		stored = slices.DeleteFunc(stored, func(it storedItem) bool { return !slices.Contains(r.ids, it.ID) })
		if len(stored) == 0 {
			return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "no such item")
		}
	} else if r.maxItems > 0 && len(stored) > r.maxItems {
		stored = stored[len(stored)-r.maxItems:]
	}
	out := []byte(`<pubsub xmlns="` + NS + `">`)
	out = appendItemsEvent(out, r.node, stored, true)
	return append(out, "</pubsub>"...), nil
}

func (m *Module) handleOwner(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	owner, err := m.owner(ctx, iq)
	if err != nil {
		return nil, err
	}
	if owner != iq.From.Bare() {
		return nil, xmpp.NewStanzaError(xmpp.Forbidden, "only the account owner manages its nodes")
	}
	r, err := parse(iq)
	if err != nil {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed pubsub#owner request")
	}
	switch {
	case r.op == "default" && iq.Type == "get":
		out := []byte(`<pubsub xmlns="` + NSOwner + `"><default>`)
		out = DefaultConfig().appendForm(out, "form")
		return append(out, "</default></pubsub>"...), nil
	case r.node == "" && (r.op == "configure" || r.op == "delete" || r.op == "purge"):
		return nil, pubsubError(xmpp.BadRequest, "nodeid-required", "")
	case r.op == "configure" && iq.Type == "get":
		cfg, ok, err := m.svc.Config(ctx, owner, r.node)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
		}
		out := []byte(`<pubsub xmlns="` + NSOwner + `"><configure`)
		out = appendAttr(out, "node", r.node)
		out = cfg.appendForm(append(out, '>'), "form")
		return append(out, "</configure></pubsub>"...), nil
	case r.op == "configure" && iq.Type == "set":
		if r.cancel {
			if _, ok, err := m.svc.Config(ctx, owner, r.node); err != nil || !ok {
				if err == nil {
					err = xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
				}
				return nil, err
			}
			return nil, nil
		}
		if r.form == nil {
			return nil, xmpp.NewStanzaError(xmpp.BadRequest, "configure needs a data form")
		}
		return nil, m.svc.Configure(ctx, owner, r.node, r.form)
	case r.op == "delete" && iq.Type == "set":
		return nil, m.svc.Delete(ctx, owner, r.node)
	case r.op == "purge" && iq.Type == "set":
		return nil, m.svc.Purge(ctx, owner, r.node)
	}
	feature := map[string]string{
		"subscriptions": "manage-subscriptions", "affiliations": "modify-affiliations",
	}[r.op]
	if feature != "" {
		return nil, pubsubError(xmpp.FeatureNotImplemented, "unsupported", feature)
	}
	return nil, xmpp.NewStanzaError(xmpp.BadRequest, "unexpected pubsub#owner request")
}

// served is what a session was last sent last items for: the caps entry
// its presence carried then (nil for none).
type served struct{ entry *caps.Entry }

// inbound follows the broadcast presences the presence module passes on.
// A session that becomes available with a non-negative priority, or that
// advertises new capabilities, is sent the last item of every node it may
// see and asked for with +notify (XEP-0163 §4.3.2), in the background
// since its capabilities may still be resolving.
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind == xmpp.KindPresence && st.To.IsZero() {
			if s := m.h.Sessions().Session(st.From); s != nil {
				m.sessionPresence(s)
			}
		}
		return next.HandleStanza(ctx, st)
	})
}

func (m *Module) sessionPresence(s modules.Session) {
	prev, _ := s.Value(id).(*served)
	if !s.Available() || s.Priority() < 0 {
		if prev != nil {
			s.SetValue(id, (*served)(nil))
		}
		return
	}
	e := caps.Of(s)
	if prev != nil && prev.entry == e {
		return
	}
	s.SetValue(id, &served{entry: e})
	if e == nil {
		return // no capabilities, no +notify: nothing to send
	}
	var old *caps.Entry
	if prev != nil {
		old = prev.entry
	}
	m.h.Go("pep last items", func(ctx context.Context) {
		wctx, cancel := context.WithTimeout(ctx, capsWait)
		features, err := e.Wait(wctx)
		cancel()
		if err != nil {
			return
		}
		var had []string
		if old != nil {
			had, _ = old.Features()
		}
		m.sendLast(ctx, s, features, had, nil)
	})
}

// deliver notices a contact's approval of a subscription ("subscribed"
// reaching one of the user's sessions): from then on the session may see
// the contact's nodes, so it is sent their last items.
func (m *Module) deliver(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind == xmpp.KindPresence && st.Type == "subscribed" {
			if s := modules.Target(ctx); s != nil && s.Available() && s.Priority() >= 0 && !st.From.IsZero() &&
				st.From.Local() != "" && m.h.IsLocal(st.From.Domain()) {
				if e := caps.Of(s); e != nil {
					if features, ok := e.Features(); ok {
						contact := st.From.Bare()
						m.h.Go("pep last items", func(ctx context.Context) {
							m.sendLast(ctx, s, features, nil, []xmpp.JID{contact})
						})
					}
				}
			}
		}
		return next.HandleStanza(ctx, st)
	})
}

// sendLast sends s the last item of each node, of its own account and of
// the local contacts it is subscribed to (or of owners only, if given),
// that features asks for with +notify and had did not, that s may see and
// that is configured to send its last item.
func (m *Module) sendLast(ctx context.Context, s modules.Session, features, had []string, owners []xmpp.JID) {
	user := s.JID().Bare()
	if owners == nil {
		owners = []xmpp.JID{user}
		items, _, err := m.svc.roster.Items(ctx, user)
		if err != nil {
			m.log.Error("pep last items: roster", "user", user, "err", err)
			return
		}
		for _, it := range items {
			if it.Subscription&roster.To != 0 && m.h.IsLocal(it.JID.Domain()) {
				owners = append(owners, it.JID)
			}
		}
	}
	for _, owner := range owners {
		if ctx.Err() != nil || !s.Available() {
			return
		}
		cfgs, err := nodes(ctx, m.h.Storage(), owner)
		if err != nil {
			m.log.Error("pep last items", "owner", owner, "err", err)
			continue
		}
		for node, cfg := range cfgs {
			if cfg.SendLast == SendNever || !cfg.Persist || !cfg.DeliverNotifications ||
				!hasNotify(features, node) || (had != nil && hasNotify(had, node)) {
				continue
			}
			if owner != user {
				if err := m.svc.access(ctx, owner, user, cfg); err != nil {
					continue
				}
			}
			stored, err := loadItems(ctx, m.h.Storage(), owner, node)
			if err != nil || len(stored) == 0 {
				continue
			}
			last := stored[len(stored)-1]
			event := appendItemsEvent(nil, node, stored[len(stored)-1:], cfg.DeliverPayloads)
			m.h.Deliver(ctx, s.JID(), eventMessage(owner, s.JID(), event, time.UnixMilli(last.Published)))
		}
	}
}

// Interface guards.
var (
	_ modules.Module          = (*Module)(nil)
	_ modules.AccountObserver = (*Module)(nil)
)
