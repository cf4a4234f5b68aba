// Package vcard implements XEP-0054: vcard-temp (version 1.2), with the
// server side of XEP-0153: vCard-Based Avatars by way of XEP-0398: User
// Avatar to vCard-Based Avatars Conversion (version 0.2.1).
//
// A user reads and replaces their own vCard and reads any other local
// user's; vCards are stored as set, up to a configured size. When the pep
// module is enabled the two avatar stores are kept in step: a vCard set
// with a photo publishes it as the XEP-0084 avatar (data, then metadata,
// with notifications), and a vCard read shows the current PEP avatar as
// its PHOTO.
package vcard

import (
	"context"
	"log/slog"
	"slices"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/pep"
	"github.com/parley-im/parley/xmpp"
)

// NS is the vcard-temp namespace.
const NS = "vcard-temp"

const id = "vcard"

func init() { modules.Register(new(Module)) }

// Module is the vcard module.
type Module struct {
	h   modules.Host
	log *slog.Logger
	cfg Config
	pep *pep.Service
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:              id,
		XEPs:            []int{54, 153, 398},
		Features:        []string{NS},
		AccountFeatures: []string{FeatureConvert},
		New:             func() modules.Module { return new(Module) },
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
	m.pep = pep.NewService(h)
	h.HandleIQ(NS, m.handleIQ)
	return nil
}

// AccountDeleted implements modules.AccountObserver.
func (m *Module) AccountDeleted(ctx context.Context, user xmpp.JID) error {
	return remove(ctx, m.h.Storage(), user)
}

// convert reports whether avatars are converted: only with pep enabled.
func (m *Module) convert() bool {
	return slices.ContainsFunc(m.h.Modules(), func(i modules.Info) bool { return i.ID == "pep" })
}

func (m *Module) handleIQ(ctx context.Context, iq *xmpp.Stanza) ([]byte, error) {
	user := iq.From.Bare()
	target := user
	if to := iq.To; !to.IsZero() && to != user {
		if to.Local() == "" {
			if iq.Type == "get" {
				return nil, xmpp.NewStanzaError(xmpp.ItemNotFound, "the server has no vCard")
			}
			return nil, xmpp.NewStanzaError(xmpp.Forbidden, "only your own vCard can be set")
		}
		target = to.Bare()
	}
	if !modules.PayloadIs(iq, NS, "vCard") {
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected a vCard element")
	}
	switch iq.Type {
	case "get":
		return m.get(ctx, target, target == user)
	case "set":
		if target != user {
			return nil, xmpp.NewStanzaError(xmpp.Forbidden, "only your own vCard can be set")
		}
		return nil, m.set(ctx, iq)
	}
	return nil, xmpp.NewStanzaError(xmpp.BadRequest, "")
}

// get returns target's vCard, an empty one if none was set (XEP-0054 §3.1).
// A vCard of a user that does not exist is service-unavailable, as for any
// IQ to a missing account (RFC 6121 §8.5.1).
func (m *Module) get(ctx context.Context, target xmpp.JID, own bool) ([]byte, error) {
	if !own {
		ok, err := m.h.Accounts().Exists(ctx, target)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
		}
	}
	v, _, err := load(ctx, m.h.Storage(), target)
	if err != nil {
		return nil, err
	}
	if m.convert() {
		if v, err = withAvatar(ctx, m.pep, target, v); err != nil {
			return nil, err
		}
	}
	if len(v) == 0 {
		return []byte(`<vCard xmlns="` + NS + `"/>`), nil
	}
	return v, nil
}

func (m *Module) set(ctx context.Context, iq *xmpp.Stanza) error {
	if len(iq.Inner) > m.cfg.MaxBytes {
		return xmpp.NewStanzaError(xmpp.NotAcceptable, "the vCard is larger than the server allows")
	}
	d := iq.Decoder()
	start, err := xmpp.NextStart(d)
	if err != nil {
		return xmpp.NewStanzaError(xmpp.BadRequest, "malformed vCard")
	}
	v, err := pep.AppendElement(nil, d, start, "")
	if err != nil {
		return xmpp.NewStanzaError(xmpp.BadRequest, "malformed vCard")
	}
	if len(v) > m.cfg.MaxBytes {
		return xmpp.NewStanzaError(xmpp.NotAcceptable, "the vCard is larger than the server allows")
	}
	user := iq.From.Bare()
	if err := save(ctx, m.h.Storage(), user, v); err != nil {
		return err
	}
	if m.convert() {
		if err := publishAvatar(ctx, m.pep, user, iq.From, v); err != nil {
			m.log.Error("vcard: publish avatar to pep", "user", user, "err", err)
		}
	}
	return nil
}

// Interface guards.
var (
	_ modules.Module          = (*Module)(nil)
	_ modules.AccountObserver = (*Module)(nil)
)
