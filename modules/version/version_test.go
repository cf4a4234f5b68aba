package version

import (
	"encoding/xml"
	"errors"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

func query(to, typ string) *xmpp.Stanza {
	st := &xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: "v1", Type: typ,
		From:    xmpp.MustParseJID("juliet@example.org/balcony"),
		Payload: xml.Name{Space: NS, Local: "query"},
		Inner:   []byte(`<query xmlns="` + NS + `"/>`),
	}
	if to != "" {
		st.To = xmpp.MustParseJID(to)
	}
	return st
}

func TestVersion(t *testing.T) {
	want := softwareVersion(debug.ReadBuildInfo())
	tests := []struct {
		name     string
		config   string
		to, typ  string
		wantOS   string
		wantCond xmpp.Condition
	}{
		{name: "domain", to: "example.org", typ: "get", wantOS: runtime.GOOS},
		{name: "no to", typ: "get", wantOS: runtime.GOOS},
		{name: "hide_os", config: "hide_os: true", to: "example.org", typ: "get"},
		{name: "an account", to: "juliet@example.org", typ: "get", wantCond: xmpp.ServiceUnavailable},
		{name: "set", to: "example.org", typ: "set", wantCond: xmpp.NotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := moduletest.NewHost(t, "example.org")
			if tc.config != "" {
				h.SetConfig("version", tc.config)
			}
			h.Provision(new(Module))
			res, err := h.IQ(query(tc.to, tc.typ))
			if tc.wantCond != "" {
				var se *xmpp.StanzaError
				if !errors.As(err, &se) || se.Condition != tc.wantCond {
					t.Fatalf("error %v, want %s", err, tc.wantCond)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var q struct {
				XMLName xml.Name
				Name    string  `xml:"name"`
				Version string  `xml:"version"`
				OS      *string `xml:"os"`
			}
			if err := xml.Unmarshal(res, &q); err != nil {
				t.Fatalf("%s: %v", res, err)
			}
			if q.XMLName.Space != NS || q.Name != "Parley" || q.Version != want {
				t.Errorf("answer %s, want name Parley, version %s", res, want)
			}
			if (q.OS == nil) != (tc.wantOS == "") || (q.OS != nil && *q.OS != tc.wantOS) {
				t.Errorf("answer %s, want os %q", res, tc.wantOS)
			}
		})
	}
}

func TestSoftwareVersion(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{name: "no build info", want: "dev"},
		{name: "tagged module", ok: true, bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, want: "v1.2.3"},
		{
			name: "vcs revision", ok: true,
			bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "6a221e1f0123456789abcdef"}, {Key: "vcs.modified", Value: "false"}}},
			want: "6a221e1f0123",
		},
		{
			name: "modified tree", ok: true,
			bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "6a221e1f0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}},
			want: "6a221e1f0123-dirty",
		},
		{name: "devel without vcs", ok: true, bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, want: "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := softwareVersion(tc.bi, tc.ok); got != tc.want {
				t.Errorf("softwareVersion = %q, want %q", got, tc.want)
			}
		})
	}
}
