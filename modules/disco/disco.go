// Package disco implements XEP-0030: Service Discovery (version 2.5rc3) for
// the server's domains and the accounts it hosts.
//
// A domain answers disco#info with the identity server/im and the features
// and identities of every enabled module; an account (a user's bare JID)
// answers with account/registered and the modules' account features, and
// lists its available resources as items, to its owner and to contacts
// subscribed to its presence only (XEP-0030 §8). A domain has no items yet:
// components come later.
//
// The package also owns the disco#info data model (Info) and its XEP-0115
// verification string, which the caps module hashes and checks.
package disco

import (
	"context"
	"crypto/sha1"
	"slices"
	"sync"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

// Namespaces of XEP-0030.
const (
	NSInfo  = "http://jabber.org/protocol/disco#info"
	NSItems = "http://jabber.org/protocol/disco#items"
)

// CapsNode is the URI that names Parley in XEP-0115 entity capabilities
// (the 'node' of the server's <c/> stream feature). disco#info on
// CapsNode#<ver>, with ver the SHA-1 verification string of ServerInfo,
// answers with the server's information.
const CapsNode = "https://parley.im"

// ServerName is the name of the server's server/im identity.
const ServerName = "Parley"

func init() { modules.Register(new(Module)) }

// Module answers disco#info and disco#items addressed to the server.
type Module struct {
	h modules.Host

	once    sync.Once
	server  Info
	account Info
	capsVer string // SHA-1 verification string of server
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:              "disco",
		XEPs:            []int{30},
		Features:        []string{NSInfo, NSItems},
		AccountFeatures: []string{NSInfo, NSItems},
		New:             func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h = h
	h.HandleIQ(NSInfo, m.handleInfo)
	h.HandleIQ(NSItems, m.handleItems)
	return nil
}

// ServerInfo returns the disco#info of a server domain on which the modules
// mods are enabled: the identity server/im named ServerName, the disco
// features, and every module's Identities and Features, sorted and without
// duplicates. The caps module hashes this exact value.
func ServerInfo(mods []modules.Info) Info {
	info := Info{
		Identities: []Identity{{Category: "server", Type: "im", Name: ServerName}},
		Features:   []string{NSInfo, NSItems},
	}
	for _, mi := range mods {
		for _, id := range mi.Identities {
			info.Identities = append(info.Identities, Identity{Category: id.Category, Type: id.Type, Name: id.Name})
		}
		info.Features = append(info.Features, mi.Features...)
	}
	return info.normalized()
}

// AccountInfo returns the disco#info of a hosted account (XEP-0030 §3.1):
// the identity account/registered and every module's AccountIdentities and
// AccountFeatures, sorted and without duplicates.
func AccountInfo(mods []modules.Info) Info {
	info := Info{
		Identities: []Identity{{Category: "account", Type: "registered"}},
		Features:   []string{NSInfo, NSItems},
	}
	for _, mi := range mods {
		for _, id := range mi.AccountIdentities {
			info.Identities = append(info.Identities, Identity{Category: id.Category, Type: id.Type, Name: id.Name})
		}
		info.Features = append(info.Features, mi.AccountFeatures...)
	}
	return info.normalized()
}

// normalized sorts identities and features and drops duplicates, so the
// result is well-formed for XEP-0115 §5.4 (no identity or feature twice).
func (i Info) normalized() Info {
	slices.SortFunc(i.Identities, compareIdentity)
	i.Identities = slices.Compact(i.Identities)
	slices.Sort(i.Features)
	i.Features = slices.Compact(i.Features)
	return i
}

// load computes the answers once, after every module is provisioned (the
// first query arrives only once listeners accept).
func (m *Module) load() {
	m.once.Do(func() {
		mods := m.h.Modules()
		m.server = ServerInfo(mods)
		m.account = AccountInfo(mods)
		m.capsVer = m.server.Ver(sha1.New)
	})
}

// target is whom a query to the server is about.
type target uint8

const (
	toDomain       target = iota + 1
	toOwnAccount          // the sender's own bare JID, or no 'to' (RFC 6120 §10.3.3)
	toOtherAccount        // another local user's bare JID
)

func targetOf(st *xmpp.Stanza) target {
	switch {
	case st.To.IsZero(), st.To.Bare() == st.From.Bare():
		return toOwnAccount
	case st.To.Local() == "":
		return toDomain
	}
	return toOtherAccount
}

func (m *Module) handleInfo(ctx context.Context, st *xmpp.Stanza) ([]byte, error) {
	node, err := queryNode(st)
	if err != nil {
		return nil, err
	}
	m.load()
	switch targetOf(st) {
	case toDomain:
		if node != "" && node != CapsNode+"#"+m.capsVer {
			return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "")
		}
		return m.server.AppendQuery(nil, node), nil
	case toOtherAccount:
		// XEP-0030 §8: service-unavailable both for an account that does
		// not exist and for a requester who may not see its presence, so
		// the two cannot be told apart (no directory harvesting).
		ok, err := m.mayQuery(ctx, st.From, st.To.Bare())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
		}
	}
	if node != "" {
		return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "")
	}
	return m.account.AppendQuery(nil, ""), nil
}

// mayQuery reports whether from may learn about the local account acct
// (XEP-0030 §8): the server itself may; anyone else only if the account
// exists and has a presence subscription of type from or both to them.
func (m *Module) mayQuery(ctx context.Context, from, acct xmpp.JID) (bool, error) {
	if from.Local() != "" || !m.h.IsLocal(from.Domain()) {
		it, ok, err := roster.NewStore(m.h.Storage()).Item(ctx, acct, from.Bare())
		if err != nil || !ok || it.Subscription&roster.From == 0 {
			return false, err
		}
	}
	return m.h.Accounts().Exists(ctx, acct)
}

func (m *Module) handleItems(ctx context.Context, st *xmpp.Stanza) ([]byte, error) {
	node, err := queryNode(st)
	if err != nil {
		return nil, err
	}
	dst := []byte(`<query xmlns="` + NSItems + `"`)
	if node != "" {
		dst = appendAttr(dst, "node", node)
	}
	var acct xmpp.JID
	switch targetOf(st) {
	case toDomain:
		// Components come later: a domain has no items yet.
		if node != "" {
			return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "")
		}
		return append(dst, "/>"...), nil
	case toOwnAccount:
		if node != "" {
			return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "")
		}
		acct = st.From.Bare()
	case toOtherAccount:
		// XEP-0030 §8: an empty list, whatever the node, unless the
		// requester may see the account's presence, so that the answer
		// tells nothing of whether the account exists.
		acct = st.To.Bare()
		ok, err := m.mayQuery(ctx, st.From, acct)
		if err != nil {
			return nil, err
		}
		if !ok || node != "" {
			return append(dst, "/>"...), nil
		}
	}
	// An account's items are its available resources (XEP-0030 §4.1).
	var items []byte
	for _, s := range m.h.Sessions().Resources(acct) {
		if s.Available() {
			items = append(items, "<item"...)
			items = appendAttr(items, "jid", s.JID().String())
			items = append(items, "/>"...)
		}
	}
	if items == nil {
		return append(dst, "/>"...), nil
	}
	dst = append(append(append(dst, '>'), items...), "</query>"...)
	return dst, nil
}

// queryNode checks that st is a get and returns the query's 'node'.
func queryNode(st *xmpp.Stanza) (string, error) {
	if st.Type != "get" {
		return "", xmpp.NewStanzaError(xmpp.NotAllowed, "service discovery is get-only")
	}
	if st.Payload.Local != "query" {
		return "", xmpp.NewStanzaError(xmpp.BadRequest, "expected a <query/> element")
	}
	var q struct {
		Node string `xml:"node,attr"`
	}
	if err := st.UnmarshalPayload(&q); err != nil {
		return "", xmpp.NewStanzaError(xmpp.BadRequest, "malformed query")
	}
	return q.Node, nil
}

var _ modules.Module = (*Module)(nil)
