// Package time implements XEP-0202: Entity Time (version 2.0): a local
// domain answers urn:xmpp:time with the current time in UTC, in the
// XEP-0082 DateTime profile.
package time

import (
	"context"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// NS is the entity time namespace.
const NS = "urn:xmpp:time"

func init() { modules.Register(new(Module)) }

// Module answers entity time queries addressed to the server.
type Module struct {
	now func() time.Time
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       "time",
		XEPs:     []int{202},
		Features: []string{NS},
		New:      func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	if m.now == nil {
		m.now = time.Now
	}
	h.HandleIQ(NS, m.handle)
	return nil
}

func (m *Module) handle(_ context.Context, st *xmpp.Stanza) ([]byte, error) {
	switch {
	case st.Type != "get":
		return nil, xmpp.NewStanzaError(xmpp.NotAllowed, "entity time is get-only")
	case st.Payload.Local != "time":
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected a <time/> element")
	case st.To.Local() != "":
		// An account keeps no time of its own: its clients answer at
		// their full JIDs.
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	// The server speaks UTC: the offset is always +00:00 (XEP-0202 §3).
	utc := m.now().UTC().Format("2006-01-02T15:04:05Z")
	return []byte(`<time xmlns="` + NS + `"><tzo>+00:00</tzo><utc>` + utc + `</utc></time>`), nil
}

var _ modules.Module = (*Module)(nil)
