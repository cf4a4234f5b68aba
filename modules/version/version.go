// Package version implements XEP-0092: Software Version (version 1.1): a
// local domain answers jabber:iq:version with the server's name, its
// version and, unless configured not to, its operating system.
package version

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// NS is the software version namespace.
const NS = "jabber:iq:version"

// Name is the software name the server reports.
const Name = "Parley"

func init() { modules.Register(new(Module)) }

// Module answers software version queries addressed to the server.
type Module struct {
	answer []byte // the result payload, fixed at provision time
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       "version",
		XEPs:     []int{92},
		Features: []string{NS},
		New:      func() modules.Module { return new(Module) },
	}
}

// Provision implements modules.Module.
func (m *Module) Provision(_ context.Context, h modules.Host) error {
	var cfg Config
	if err := h.Config(&cfg); err != nil {
		return err
	}
	goos := runtime.GOOS
	if cfg.HideOS {
		goos = ""
	}
	m.answer = appendQuery(nil, Name, softwareVersion(debug.ReadBuildInfo()), goos)
	h.HandleIQ(NS, m.handle)
	return nil
}

func (m *Module) handle(_ context.Context, st *xmpp.Stanza) ([]byte, error) {
	switch {
	case st.Type != "get":
		return nil, xmpp.NewStanzaError(xmpp.NotAllowed, "software version is get-only")
	case st.Payload.Local != "query":
		return nil, xmpp.NewStanzaError(xmpp.BadRequest, "expected a <query/> element")
	case st.To.Local() != "":
		// An account runs no software of its own: its clients answer
		// at their full JIDs.
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	return m.answer, nil
}

// softwareVersion is the main module's version when the binary was built
// from a tagged module, else the VCS revision it was built from (marked
// -dirty for a modified tree), else "dev".
func softwareVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "-dirty"
	}
	return rev
}

// appendQuery appends the answer; an empty goos leaves <os/> out.
func appendQuery(dst []byte, name, version, goos string) []byte {
	dst = append(dst, `<query xmlns="`+NS+`"><name>`...)
	dst = xmpp.AppendEscaped(dst, name, false)
	dst = append(dst, "</name><version>"...)
	dst = xmpp.AppendEscaped(dst, version, false)
	dst = append(dst, "</version>"...)
	if goos != "" {
		dst = append(dst, "<os>"...)
		dst = xmpp.AppendEscaped(dst, goos, false)
		dst = append(dst, "</os>"...)
	}
	return append(dst, "</query>"...)
}

var _ modules.Module = (*Module)(nil)
