// Package private implements XEP-0049: Private XML Storage (version 1.2),
// and the server side of XEP-0402: PEP Native Bookmarks §5.3, which keeps
// XEP-0048 bookmarks in private storage and XEP-0402 bookmarks in PEP in
// step.
//
// A user stores any namespaced element under their account and reads it
// back by name and namespace; namespaces beginning with "jabber:" are
// refused and other users' storage is forbidden. With the pep module
// enabled, storage:bookmarks is a view of the urn:xmpp:bookmarks:1 node:
// reading it builds the XEP-0048 list from the node's items, writing it
// publishes and retracts items.
package private

import (
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/pep"
	"github.com/parley-im/parley/xmpp"
)

// NS is the jabber:iq:private namespace.
const NS = "jabber:iq:private"

const id = "private"

func init() { modules.Register(new(Module)) }

// Module is the private module.
type Module struct {
	h   modules.Host
	log *slog.Logger
	pep *pep.Service
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:              id,
		XEPs:            []int{49, 48, 402},
		Features:        []string{NS},
		AccountFeatures: []string{FeatureBookmarks},
		New:             func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	m.h, m.log = h, h.Logger()
	m.pep = pep.NewService(h)
	h.HandleIQ(NS, m.handleIQ)
	return nil
}

// AccountDeleted implements modules.AccountObserver.
func (m *Module) AccountDeleted(ctx context.Context, user xmpp.JID) error {
	return removeAll(ctx, m.h.Storage(), user)
}

// compat reports whether bookmarks are kept in PEP: only with pep enabled.
func (m *Module) compat() bool {
	return slices.ContainsFunc(m.h.Modules(), func(i modules.Info) bool { return i.ID == "pep" })
}

// reserved reports a namespace that may not be stored (XEP-0049 §2.3):
// none, and the jabber:* protocol namespaces.
func reserved(ns string) bool { return ns == "" || strings.HasPrefix(ns, "jabber:") }

func (m *Module) handleIQ(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	user := iq.From.Bare()
	if !iq.To.IsZero() && iq.To != user {
		return nil, xmpp.NewStanzaError(xmpp.Forbidden, "private storage is its owner's only")
	}
	if !modules.PayloadIs(iq, NS, "query") {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected a query element")
	}
	d := iq.Decoder()
	if _, err := xmpp.NextStart(d); err != nil {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed query")
	}
	var els []element
	for {
		t, err := nextChild(d)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed query")
		}
		if reserved(t.Name.Space) {
			return nil, xmpp.NewStanzaError(xmpp.NotAcceptable, "namespace "+t.Name.Space+" may not be stored")
		}
		el := element{local: t.Name.Local, ns: t.Name.Space}
		if el.xml, err = pep.AppendElement(nil, d, t, ""); err != nil {
			return nil, xmpp.NewStanzaError(xmpp.BadRequest, "malformed query")
		}
		els = append(els, el)
	}
	// §2.3: at least one child; a get names one element.
	switch {
	case len(els) == 0:
		return nil, xmpp.NewStanzaError(xmpp.NotAcceptable, "the query needs a child element")
	case iq.Type == "get" && len(els) > 1:
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "a get asks for one element")
	case iq.Type == "get":
		return m.get(ctx, user, els[0])
	case iq.Type == "set":
		return nil, m.set(ctx, iq, els)
	}
	return nil, xmpp.NewStanzaError(xmpp.BadRequest, "")
}

func (m *Module) get(ctx context.Context, user xmpp.JID, want element) ([]byte, error) {
	v, ok, err := load(ctx, m.h.Storage(), user, want.local, want.ns)
	if err != nil {
		return nil, err
	}
	if want.ns == NSBookmarks && want.local == "storage" && m.compat() {
		b, found, err := getBookmarks(ctx, m.pep, user, v)
		if err != nil {
			return nil, err
		}
		if found {
			v, ok = b, true
		}
	}
	if !ok {
		v = want.xml // nothing stored: the empty element asked for
	}
	out := []byte(`<query xmlns="` + NS + `">`)
	out = append(out, v...)
	return append(out, "</query>"...), nil
}

func (m *Module) set(ctx context.Context, iq *xmpp.Stanza, els []element) error {
	user := iq.From.Bare()
	if err := save(ctx, m.h.Storage(), user, els); err != nil {
		return err
	}
	if !m.compat() {
		return nil
	}
	for _, el := range els {
		if el.ns == NSBookmarks && el.local == "storage" {
			if err := setBookmarks(ctx, m.pep, user, iq.From, el.xml); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextChild returns the next child element of the current element, or
// io.EOF at its end.
func nextChild(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, io.EOF
		}
	}
}

// Interface guards.
var (
	_ modules.Module          = (*Module)(nil)
	_ modules.AccountObserver = (*Module)(nil)
)
