// Package ping implements XEP-0199: XMPP Ping (version 2.0.1) for the
// server: a ping to a local domain, to the sender's own account or without
// 'to' is answered with an empty result (XEP-0199 §4.2).
package ping

import (
	"context"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// NS is the ping namespace.
const NS = "urn:xmpp:ping"

func init() { modules.Register(new(Module)) }

// Module answers pings addressed to the server.
type Module struct{}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       "ping",
		XEPs:     []int{199},
		Features: []string{NS},
		New:      func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (*Module) Provision(_ context.Context, h modules.Host) error {
	h.HandleIQ(NS, handle)
	return nil
}

func handle(_ context.Context, st *xmpp.Stanza) ([]byte, error) {
	switch {
	case st.Type != "get":
		return nil, xmpp.NewStanzaError(xmpp.NotAllowed, "ping is get-only")
	case st.Payload.Local != "ping":
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected a <ping/> element")
	case st.To.Local() != "" && st.To.Bare() != st.From.Bare():
		// Another user's bare JID: the server does not answer for
		// someone else's account, nor reveal whether it exists.
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	return nil, nil
}

var _ modules.Module = (*Module)(nil)
