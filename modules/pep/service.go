package pep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/caps"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

// Item is one published item. Payload is a self-contained XML element
// (see AppendElement); it may be empty in a request to publish only when
// the node does not deliver payloads.
type Item struct {
	ID        string
	Payload   []byte
	Published time.Time // set by the service
}

// Service is the virtual pubsub service of every local account. It is
// stateless apart from storage, so the pep module and the modules that
// publish on a user's behalf (vcard, private) each build one over their
// own Host; all instances of a process share the per-account locks that
// serialise changes.
type Service struct {
	h      modules.Host
	log    *slog.Logger
	roster *roster.Store
	now    func() time.Time
}

// NewService returns the PEP service over h's storage and sessions.
func NewService(h modules.Host) *Service {
	return &Service{h: h, log: h.Logger(), roster: roster.NewStore(h.Storage()), now: time.Now}
}

// ownerLocks serialise the read-modify-write of one account's nodes
// across every Service of the process.
var (
	ownerSeed  = maphash.MakeSeed()
	ownerLocks [64]sync.Mutex
	eventID    atomic.Uint64
)

func lockOwner(owner xmpp.JID) *sync.Mutex {
	return &ownerLocks[maphash.String(ownerSeed, owner.Bare().String())%uint64(len(ownerLocks))]
}

// newItemID returns a random item id, for items published without one.
func newItemID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Publish publishes items to owner's node on behalf of publisher (a
// session of owner, or owner itself for the server), creating the node if
// needed. opts are XEP-0060 §7.1.5 publish-options: on a new node they
// configure it, on an existing one they are preconditions, and a mismatch
// fails with conflict and <precondition-not-met/>. It returns the ids of
// the items, generated where absent, and notifies subscribers.
func (s *Service) Publish(ctx context.Context, owner, publisher xmpp.JID, node string, items []Item, opts Form) ([]string, error) {
	owner = owner.Bare()
	if node == "" {
		return nil, pubsubError(xmpp.BadRequest, "nodeid-required", "")
	}
	if len(items) == 0 {
		return nil, pubsubError(xmpp.BadRequest, "item-required", "")
	}
	be := s.h.Storage()
	mu := lockOwner(owner)
	mu.Lock()
	cfg, exists, err := loadConfig(ctx, be, owner, node)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	if exists {
		want := cfg
		if err := want.apply(opts); err != nil || !want.equal(cfg) {
			mu.Unlock()
			return nil, preconditionError()
		}
	} else {
		cfg = DefaultConfig()
		if err := cfg.apply(opts); err != nil {
			mu.Unlock()
			return nil, preconditionError()
		}
	}
	for _, it := range items {
		if len(it.Payload) == 0 && cfg.DeliverPayloads {
			mu.Unlock()
			return nil, pubsubError(xmpp.BadRequest, "payload-required", "")
		}
	}
	stored, err := loadItems(ctx, be, owner, node)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	now := s.now()
	published := make([]storedItem, len(items))
	ids := make([]string, len(items))
	for i, it := range items {
		if it.ID == "" {
			it.ID = newItemID()
		}
		ids[i] = it.ID
		published[i] = storedItem{ID: it.ID, Payload: string(it.Payload), Published: now.UnixMilli(), Publisher: publisher.String()}
		// Re-publishing an id replaces the item and makes it the newest.
		stored = slices.DeleteFunc(stored, func(o storedItem) bool { return o.ID == it.ID })
		stored = append(stored, published[i])
	}
	if !cfg.Persist {
		stored = nil
	} else if n := cfg.limit(); len(stored) > n {
		stored = stored[len(stored)-n:]
	}
	err = saveNode(ctx, be, owner, node, cfg, stored)
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	if cfg.DeliverNotifications {
		event := appendItemsEvent(nil, node, published, cfg.DeliverPayloads)
		s.notify(ctx, owner, node, cfg, event)
	}
	return ids, nil
}

// Items returns the items of owner's node, oldest first, as the owner sees
// them; ok is false if the node does not exist.
func (s *Service) Items(ctx context.Context, owner xmpp.JID, node string) (items []Item, ok bool, err error) {
	_, ok, err = loadConfig(ctx, s.h.Storage(), owner.Bare(), node)
	if err != nil || !ok {
		return nil, false, err
	}
	stored, err := loadItems(ctx, s.h.Storage(), owner.Bare(), node)
	if err != nil {
		return nil, false, err
	}
	for _, it := range stored {
		items = append(items, it.item())
	}
	return items, true, nil
}

// Retract removes the items with ids from owner's node. Subscribers are
// told if notify is set or the node is configured to notify retractions.
// Missing items are item-not-found.
func (s *Service) Retract(ctx context.Context, owner xmpp.JID, node string, ids []string, notify bool) error {
	owner = owner.Bare()
	be := s.h.Storage()
	mu := lockOwner(owner)
	mu.Lock()
	cfg, ok, err := loadConfig(ctx, be, owner, node)
	if err != nil || !ok {
		mu.Unlock()
		if err != nil {
			return err
		}
		return xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
	}
	stored, err := loadItems(ctx, be, owner, node)
	if err != nil {
		mu.Unlock()
		return err
	}
	for _, id := range ids {
		n := len(stored)
		stored = slices.DeleteFunc(stored, func(o storedItem) bool { return o.ID == id })
		if len(stored) == n {
			mu.Unlock()
			return xmpp.NewStanzaError(xmpp.ItemNotFound, "no item "+id)
		}
	}
	err = saveNode(ctx, be, owner, node, cfg, stored)
	mu.Unlock()
	if err != nil {
		return err
	}
	if (notify || cfg.NotifyRetract) && cfg.DeliverNotifications {
		s.notify(ctx, owner, node, cfg, appendRetractEvent(nil, node, ids))
	}
	return nil
}

// Create creates owner's node with the default configuration changed by
// form; it exists already: conflict.
func (s *Service) Create(ctx context.Context, owner xmpp.JID, node string, form Form) error {
	owner = owner.Bare()
	if node == "" {
		return pubsubError(xmpp.NotAcceptable, "nodeid-required", "")
	}
	cfg := DefaultConfig()
	if err := cfg.apply(form); err != nil {
		return xmpp.NewStanzaError(xmpp.NotAcceptable, err.Error())
	}
	mu := lockOwner(owner)
	mu.Lock()
	defer mu.Unlock()
	_, exists, err := loadConfig(ctx, s.h.Storage(), owner, node)
	if err != nil {
		return err
	}
	if exists {
		return xmpp.NewStanzaError(xmpp.Conflict, "the node exists")
	}
	return saveNode(ctx, s.h.Storage(), owner, node, cfg, nil)
}

// Config returns the configuration of owner's node.
func (s *Service) Config(ctx context.Context, owner xmpp.JID, node string) (NodeConfig, bool, error) {
	return loadConfig(ctx, s.h.Storage(), owner.Bare(), node)
}

// Configure changes owner's node by form. Items beyond a lowered
// max_items are dropped; turning persistence off drops them all.
func (s *Service) Configure(ctx context.Context, owner xmpp.JID, node string, form Form) error {
	owner = owner.Bare()
	be := s.h.Storage()
	mu := lockOwner(owner)
	mu.Lock()
	defer mu.Unlock()
	cfg, ok, err := loadConfig(ctx, be, owner, node)
	if err != nil {
		return err
	}
	if !ok {
		return xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
	}
	if err := cfg.apply(form); err != nil {
		return xmpp.NewStanzaError(xmpp.NotAcceptable, err.Error())
	}
	stored, err := loadItems(ctx, be, owner, node)
	if err != nil {
		return err
	}
	if !cfg.Persist {
		stored = nil
	} else if n := cfg.limit(); len(stored) > n {
		stored = stored[len(stored)-n:]
	}
	return saveNode(ctx, be, owner, node, cfg, stored)
}

// Delete removes owner's node and tells subscribers.
func (s *Service) Delete(ctx context.Context, owner xmpp.JID, node string) error {
	owner = owner.Bare()
	mu := lockOwner(owner)
	mu.Lock()
	cfg, ok, err := loadConfig(ctx, s.h.Storage(), owner, node)
	if err == nil && ok {
		err = deleteNode(ctx, s.h.Storage(), owner, node)
	}
	mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
	}
	if cfg.NotifyDelete && cfg.DeliverNotifications {
		s.notify(ctx, owner, node, cfg, appendNodeEvent(nil, "delete", node))
	}
	return nil
}

// Purge removes every item of owner's node and tells subscribers.
func (s *Service) Purge(ctx context.Context, owner xmpp.JID, node string) error {
	owner = owner.Bare()
	mu := lockOwner(owner)
	mu.Lock()
	cfg, ok, err := loadConfig(ctx, s.h.Storage(), owner, node)
	if err == nil && ok {
		err = saveNode(ctx, s.h.Storage(), owner, node, cfg, nil)
	}
	mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return xmpp.NewStanzaError(xmpp.ItemNotFound, "no such node")
	}
	if cfg.DeliverNotifications {
		s.notify(ctx, owner, node, cfg, appendNodeEvent(nil, "purge", node))
	}
	return nil
}

// access checks whether requester may retrieve items of owner's node
// configured as cfg (XEP-0060 §6.5.9); nil means yes.
func (s *Service) access(ctx context.Context, owner, requester xmpp.JID, cfg NodeConfig) error {
	if requester.Bare() == owner.Bare() {
		return nil
	}
	switch cfg.AccessModel {
	case AccessOpen:
		return nil
	case AccessWhitelist:
		return pubsubError(xmpp.NotAllowed, "closed-node", "")
	}
	it, ok, err := s.roster.Item(ctx, owner, requester.Bare())
	if err != nil {
		return err
	}
	subscribed := ok && it.Subscription&roster.From != 0
	if cfg.AccessModel == AccessRoster {
		if subscribed && slices.ContainsFunc(it.Groups, func(g string) bool { return slices.Contains(cfg.RosterGroups, g) }) {
			return nil
		}
		return pubsubError(xmpp.NotAuthorized, "not-in-roster-group", "")
	}
	if subscribed {
		return nil
	}
	return pubsubError(xmpp.NotAuthorized, "presence-subscription-required", "")
}

// allowedContact reports whether contact, found in owner's roster as it,
// may receive notifications of a node configured as cfg.
func allowedContact(it roster.Item, cfg NodeConfig) bool {
	if it.Subscription&roster.From == 0 {
		return false
	}
	switch cfg.AccessModel {
	case AccessOpen, AccessPresence:
		return true
	case AccessRoster:
		return slices.ContainsFunc(it.Groups, func(g string) bool { return slices.Contains(cfg.RosterGroups, g) })
	}
	return false
}

// notify sends event (the content of <event/>) to the owner's sessions and
// to the sessions of contacts the access model allows, where the session
// is available with a non-negative priority and its client asked for
// <node>+notify (XEP-0163 §4). Contacts the owner blocked, or who blocked
// the owner, are left out by the blocking module's Deliver stage, which
// Host.Deliver runs (XEP-0163 §4.3.3 point 3).
func (s *Service) notify(ctx context.Context, owner xmpp.JID, node string, cfg NodeConfig, event []byte) {
	s.deliverTo(ctx, owner, owner, node, event, time.Time{})
	if cfg.AccessModel == AccessWhitelist {
		return
	}
	items, _, err := s.roster.Items(ctx, owner)
	if err != nil {
		s.log.Error("pep notify: roster", "owner", owner, "err", err)
		return
	}
	for _, it := range items {
		if allowedContact(it, cfg) && s.h.IsLocal(it.JID.Domain()) {
			s.deliverTo(ctx, owner, it.JID, node, event, time.Time{})
		}
	}
}

// deliverTo sends an event from owner to the interested sessions of user.
func (s *Service) deliverTo(ctx context.Context, owner, user xmpp.JID, node string, event []byte, delay time.Time) {
	for _, sess := range s.h.Sessions().Resources(user) {
		if !sess.Available() || sess.Priority() < 0 || !wants(sess, node) {
			continue
		}
		s.h.Deliver(ctx, sess.JID(), eventMessage(owner, sess.JID(), event, delay))
	}
}

// wants reports whether sess's client features include node+notify.
func wants(sess modules.Session, node string) bool {
	e := caps.Of(sess)
	if e == nil {
		return false
	}
	f, ok := e.Features()
	return ok && hasNotify(f, node)
}

// hasNotify looks node+notify up in features, sorted as caps keeps them.
func hasNotify(features []string, node string) bool {
	_, found := slices.BinarySearch(features, node+"+notify")
	return found
}

// eventMessage wraps an event in the headline message XEP-0163 §4.3 shows,
// from the owner's bare JID, with a delay stamp for a last published item.
func eventMessage(owner, to xmpp.JID, event []byte, delay time.Time) *xmpp.Stanza {
	inner := make([]byte, 0, len(event)+128)
	inner = append(inner, `<event xmlns="`+NSEvent+`">`...)
	inner = append(inner, event...)
	inner = append(inner, "</event>"...)
	if !delay.IsZero() {
		inner = append(inner, `<delay xmlns="`+xmpp.NSDelay+`" stamp="`...)
		inner = delay.UTC().AppendFormat(inner, "2006-01-02T15:04:05.000Z")
		inner = append(inner, `"/>`...)
	}
	return &xmpp.Stanza{
		Kind: xmpp.KindMessage, Name: "message", Space: xmpp.NSClient, Type: "headline",
		ID: "pep-" + strconv.FormatUint(eventID.Add(1), 10), From: owner.Bare(), To: to, Inner: inner,
	}
}

func appendItemsEvent(dst []byte, node string, items []storedItem, payloads bool) []byte {
	dst = append(dst, "<items"...)
	dst = appendAttr(dst, "node", node)
	dst = append(dst, '>')
	for _, it := range items {
		dst = appendItem(dst, it, payloads)
	}
	return append(dst, "</items>"...)
}

func appendItem(dst []byte, it storedItem, payload bool) []byte {
	dst = append(dst, "<item"...)
	dst = appendAttr(dst, "id", it.ID)
	if !payload || it.Payload == "" {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = append(dst, it.Payload...)
	return append(dst, "</item>"...)
}

func appendRetractEvent(dst []byte, node string, ids []string) []byte {
	dst = append(dst, "<items"...)
	dst = appendAttr(dst, "node", node)
	dst = append(dst, '>')
	for _, id := range ids {
		dst = append(dst, "<retract"...)
		dst = appendAttr(dst, "id", id)
		dst = append(dst, "/>"...)
	}
	return append(dst, "</items>"...)
}

func appendNodeEvent(dst []byte, what, node string) []byte {
	dst = append(dst, '<')
	dst = append(dst, what...)
	dst = appendAttr(dst, "node", node)
	return append(dst, "/>"...)
}

// pubsubError is a stanza error with a pubsub#errors condition.
func pubsubError(cond xmpp.Condition, app, feature string) *xmpp.StanzaError {
	e := xmpp.NewStanzaError(cond, "")
	a := []byte("<" + app + ` xmlns="` + NSErrors + `"`)
	if feature != "" {
		a = appendAttr(a, "feature", feature)
	}
	e.App = append(a, "/>"...)
	return e
}

func preconditionError() *xmpp.StanzaError {
	return pubsubError(xmpp.Conflict, "precondition-not-met", "")
}
