package caps

import (
	"context"
	"crypto/sha1"
	"encoding/xml"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/modules/disco"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

// The XEP-0115 §5.2 entity.
const (
	exodusNode = "http://code.google.com/p/exodus"
	exodusVer  = "QgayPKawpkPSDYmwT/WM94uAlu0="
	exodusInfo = `<query xmlns="http://jabber.org/protocol/disco#info" node="http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0=">` +
		`<identity category="client" type="pc" name="Exodus 0.9.1"/>` +
		`<feature var="http://jabber.org/protocol/caps"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/>` +
		`<feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="http://jabber.org/protocol/muc"/></query>`
)

var exodusFeatures = []string{
	"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc",
}

// The XEP-0115 §5.3 entity, with its form.
const psiInfo = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>`

func result(iq *xmpp.Stanza, inner string) *xmpp.Stanza {
	return &xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: iq.ID, Type: "result",
		From: iq.To, To: iq.From, Payload: xml.Name{Space: disco.NSInfo, Local: "query"}, Inner: []byte(inner),
	}
}

func presence(from, inner string) *xmpp.Stanza {
	st := &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient, From: xmpp.MustParseJID(from), Inner: []byte(inner)}
	if inner != "" {
		st.Payload = xml.Name{Space: NS, Local: "c"}
	}
	return st
}

func c(hash, node, ver, ext string) string {
	s := `<c xmlns="` + NS + `"`
	for _, a := range [][2]string{{"hash", hash}, {"node", node}, {"ver", ver}, {"ext", ext}} {
		if a[1] != "" {
			s += " " + a[0] + `="` + a[1] + `"`
		}
	}
	return s + "/>"
}

func wait(t *testing.T, e *Entry) ([]string, error) {
	t.Helper()
	if e == nil {
		t.Fatal("no caps entry recorded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.Wait(ctx)
}

// discoIQs returns the disco#info queries sent since the last call, as
// "to node".
func discoIQs(h *moduletest.Host) []string {
	var out []string
	for _, st := range h.Routed() {
		if st.Kind != xmpp.KindIQ {
			continue
		}
		var q struct {
			Node string `xml:"node,attr"`
		}
		_ = st.UnmarshalPayload(&q)
		out = append(out, st.From.String()+" → "+st.To.String()+" "+q.Node)
	}
	return out
}

func TestParseInfo(t *testing.T) {
	withForm := func(form string) string {
		return `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="client" type="pc"/>` + form + `</query>`
	}
	plain := disco.Info{Identities: []disco.Identity{{Category: "client", Type: "pc"}}}.Ver(sha1.New)
	tests := []struct {
		name    string
		inner   string
		wantVer string
		wantErr error
	}{
		{name: "XEP-0115 §5.2 example", inner: exodusInfo, wantVer: exodusVer},
		{name: "XEP-0115 §5.3 example", inner: psiInfo, wantVer: "q07IKJEyjvHSyhy//CH0CxmKi8w="},
		{
			name:    "duplicate identity",
			inner:   `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="client" type="pc"/><identity category="client" type="pc"/></query>`,
			wantErr: errIllFormed,
		},
		{
			name:    "duplicate feature",
			inner:   `<query xmlns="http://jabber.org/protocol/disco#info"><feature var="a"/><feature var="a"/></query>`,
			wantErr: errIllFormed,
		},
		{
			name: "two forms with one FORM_TYPE",
			inner: withForm(`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>urn:a</value></field></x>` +
				`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>urn:a</value></field></x>`),
			wantErr: errIllFormed,
		},
		{
			name:    "FORM_TYPE with two values",
			inner:   withForm(`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>urn:a</value><value>urn:b</value></field></x>`),
			wantErr: errIllFormed,
		},
		{
			name:    "FORM_TYPE not hidden: form ignored",
			inner:   withForm(`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE"><value>urn:a</value></field><field var="f"><value>v</value></field></x>`),
			wantVer: plain,
		},
		{
			name:    "no FORM_TYPE: form ignored",
			inner:   withForm(`<x xmlns="jabber:x:data" type="result"><field var="f"><value>v</value></field></x>`),
			wantVer: plain,
		},
		{
			name:    "escaped less-than stays literal",
			inner:   `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="client" type="pc" name="a&amp;lt;b"/></query>`,
			wantVer: disco.Info{Identities: []disco.Identity{{Category: "client", Type: "pc", Name: "a&lt;b"}}}.Ver(sha1.New),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, Type: "result",
				Payload: xml.Name{Space: disco.NSInfo, Local: "query"}, Inner: []byte(tc.inner)}
			info, err := parseInfo(resp)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("parseInfo error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := info.Ver(sha1.New); got != tc.wantVer {
				t.Errorf("ver = %s, want %s", got, tc.wantVer)
			}
		})
	}
}

func TestStreamFeatureMatchesDisco(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.Provision(new(disco.Module))
	m := new(Module)
	h.Provision(m)
	if got := m.StreamFeatures([]byte("x"), "example.org", false); string(got) != "x" {
		t.Errorf("before authentication: %q, want nothing added", got)
	}
	feat := string(m.StreamFeatures(nil, "example.org", true))
	var el struct {
		XMLName xml.Name
		Hash    string `xml:"hash,attr"`
		Node    string `xml:"node,attr"`
		Ver     string `xml:"ver,attr"`
	}
	if err := xml.Unmarshal([]byte(feat), &el); err != nil {
		t.Fatalf("feature %q: %v", feat, err)
	}
	if el.XMLName != (xml.Name{Space: NS, Local: "c"}) || el.Hash != "sha-1" || el.Node != "https://parley.im" || el.Ver == "" {
		t.Fatalf("feature = %s", feat)
	}
	// XEP-0115 §6.3: disco#info on node#ver answers with what hashes to ver.
	req := &xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, Type: "get",
		From: xmpp.MustParseJID("juliet@example.org/balcony"), To: xmpp.MustParseJID("example.org"),
		Payload: xml.Name{Space: disco.NSInfo, Local: "query"},
		Inner:   []byte(`<query xmlns="` + disco.NSInfo + `" node="` + el.Node + "#" + el.Ver + `"/>`)}
	res, err := h.IQ(req)
	if err != nil {
		t.Fatalf("disco#info on the caps node: %v", err)
	}
	info, err := parseInfo(&xmpp.Stanza{Payload: req.Payload, Inner: res})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Ver(sha1.New); got != el.Ver {
		t.Errorf("disco answer hashes to %s, stream feature says %s", got, el.Ver)
	}
	if !strings.Contains(string(res), `<feature var="`+NS+`"/>`) {
		t.Errorf("disco answer does not advertise %s: %s", NS, res)
	}
}

// answer is an IQResponder answering disco#info from a table of full JID →
// query content; other targets get an error.
func answer(byJID map[string]string) func(*xmpp.Stanza) (*xmpp.Stanza, error) {
	return func(iq *xmpp.Stanza) (*xmpp.Stanza, error) {
		inner, ok := byJID[iq.To.String()]
		if !ok {
			return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
		}
		return result(iq, inner), nil
	}
}

func TestClientCaps(t *testing.T) {
	wrongVer := "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name string
		// answers maps a full JID to its disco#info query content.
		answers map[string]string
		// stored pre-populates the store.
		stored []string
		// presences are sent in order, each from a bound session.
		presences [][2]string
		// check is the session whose entry is checked, and what it
		// should resolve to.
		check        string
		wantFeatures []string
		wantErr      error
		wantQueries  []string
		// wantCached is whether sha-1/<ver of the last presence> ends up cached.
		wantCachedVer string
		wantCached    bool
	}{
		{
			name:          "verified and cached",
			answers:       map[string]string{"juliet@example.org/balcony": exodusInfo},
			presences:     [][2]string{{"juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, "")}},
			check:         "juliet@example.org/balcony",
			wantFeatures:  exodusFeatures,
			wantQueries:   []string{"example.org → juliet@example.org/balcony " + exodusNode + "#" + exodusVer},
			wantCachedVer: exodusVer, wantCached: true,
		},
		{
			name:    "second session with the same caps is not asked",
			answers: map[string]string{"juliet@example.org/balcony": exodusInfo},
			presences: [][2]string{
				{"juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, "")},
				{"romeo@example.org/orchard", c("sha-1", exodusNode, exodusVer, "")},
			},
			check:         "romeo@example.org/orchard",
			wantFeatures:  exodusFeatures,
			wantQueries:   []string{"example.org → juliet@example.org/balcony " + exodusNode + "#" + exodusVer},
			wantCachedVer: exodusVer, wantCached: true,
		},
		{
			name:          "read from the store",
			stored:        exodusFeatures,
			presences:     [][2]string{{"juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, "")}},
			check:         "juliet@example.org/balcony",
			wantFeatures:  exodusFeatures,
			wantCachedVer: exodusVer, wantCached: true,
		},
		{
			name: "wrong hash: kept for the sender, not cached for others",
			answers: map[string]string{
				"mallory@example.org/evil":   strings.Replace(exodusInfo, exodusVer, wrongVer, 1),
				"juliet@example.org/balcony": strings.Replace(exodusInfo, exodusVer, wrongVer, 1),
			},
			presences: [][2]string{
				{"mallory@example.org/evil", c("sha-1", exodusNode, wrongVer, "")},
				{"juliet@example.org/balcony", c("sha-1", exodusNode, wrongVer, "")},
			},
			check:        "juliet@example.org/balcony",
			wantFeatures: exodusFeatures,
			wantQueries: []string{
				"example.org → mallory@example.org/evil " + exodusNode + "#" + wrongVer,
				"example.org → juliet@example.org/balcony " + exodusNode + "#" + wrongVer,
			},
			wantCachedVer: wrongVer, wantCached: false,
		},
		{
			name: "poisoned first answer does not stop the right one",
			answers: map[string]string{
				"mallory@example.org/evil": `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="client" type="pc"/>` +
					`<feature var="urn:evil"/></query>`,
				"juliet@example.org/balcony": exodusInfo,
			},
			presences: [][2]string{
				{"mallory@example.org/evil", c("sha-1", exodusNode, exodusVer, "")},
				{"juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, "")},
			},
			check:        "juliet@example.org/balcony",
			wantFeatures: exodusFeatures,
			wantQueries: []string{
				"example.org → mallory@example.org/evil " + exodusNode + "#" + exodusVer,
				"example.org → juliet@example.org/balcony " + exodusNode + "#" + exodusVer,
			},
			wantCachedVer: exodusVer, wantCached: true,
		},
		{
			name: "legacy format: node#ver and each ext, for the sender only",
			answers: map[string]string{"juliet@example.org/balcony": `<query xmlns="http://jabber.org/protocol/disco#info">` +
				`<identity category="client" type="pc"/><feature var="urn:b"/><feature var="urn:a"/></query>`},
			presences:    [][2]string{{"juliet@example.org/balcony", c("", "http://exodus.jabberstudio.org/caps", "0.9", "ftrans xhtml")}},
			check:        "juliet@example.org/balcony",
			wantFeatures: []string{"urn:a", "urn:b"},
			wantQueries: []string{
				"example.org → juliet@example.org/balcony http://exodus.jabberstudio.org/caps#0.9",
				"example.org → juliet@example.org/balcony http://exodus.jabberstudio.org/caps#ftrans",
				"example.org → juliet@example.org/balcony http://exodus.jabberstudio.org/caps#xhtml",
			},
			wantCachedVer: "0.9", wantCached: false,
		},
		{
			name:          "unknown hash: for the sender only",
			answers:       map[string]string{"juliet@example.org/balcony": exodusInfo},
			presences:     [][2]string{{"juliet@example.org/balcony", c("md5", exodusNode, "x", "")}},
			check:         "juliet@example.org/balcony",
			wantFeatures:  exodusFeatures,
			wantQueries:   []string{"example.org → juliet@example.org/balcony " + exodusNode + "#x"},
			wantCachedVer: "x", wantCached: false,
		},
		{
			name: "ill-formed answer",
			answers: map[string]string{"juliet@example.org/balcony": `<query xmlns="http://jabber.org/protocol/disco#info">` +
				`<feature var="urn:a"/><feature var="urn:a"/></query>`},
			presences:     [][2]string{{"juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, "")}},
			check:         "juliet@example.org/balcony",
			wantErr:       errIllFormed,
			wantQueries:   []string{"example.org → juliet@example.org/balcony " + exodusNode + "#" + exodusVer},
			wantCachedVer: exodusVer, wantCached: false,
		},
		{
			name:          "client answers with an error",
			answers:       map[string]string{},
			presences:     [][2]string{{"juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, "")}},
			check:         "juliet@example.org/balcony",
			wantErr:       &xmpp.StanzaError{},
			wantQueries:   []string{"example.org → juliet@example.org/balcony " + exodusNode + "#" + exodusVer},
			wantCachedVer: exodusVer, wantCached: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := moduletest.NewHost(t, "example.org")
			h.IQResponder = answer(tc.answers)
			m := new(Module)
			h.Provision(m)
			if tc.stored != nil {
				if err := saveFeatures(context.Background(), h.Storage(), "sha-1", exodusVer, tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			sessions := map[string]*moduletest.Session{}
			for _, p := range tc.presences {
				s := sessions[p[0]]
				if s == nil {
					s = h.Bind(p[0])
					sessions[p[0]] = s
				}
				if err := h.Send(presence(p[0], p[1])); err != nil {
					t.Fatalf("Send: %v", err)
				}
				_, _ = wait(t, Of(s)) // one at a time, so the queries' order is fixed
			}
			features, err := wait(t, Of(sessions[tc.check]))
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Wait: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr) && !errors.As(err, new(*xmpp.StanzaError)):
				t.Fatalf("Wait error = %v, want %v", err, tc.wantErr)
			}
			if strings.Join(features, " ") != strings.Join(tc.wantFeatures, " ") {
				t.Errorf("features = %q, want %q", features, tc.wantFeatures)
			}
			if got, ok := Of(sessions[tc.check]).Features(); ok != (tc.wantErr == nil) || strings.Join(got, " ") != strings.Join(tc.wantFeatures, " ") {
				t.Errorf("Features() = %q, %v", got, ok)
			}
			if got := discoIQs(h); strings.Join(got, "\n") != strings.Join(tc.wantQueries, "\n") {
				t.Errorf("queries =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.wantQueries, "\n"))
			}
			m.mu.Lock()
			_, inMemory := m.cache["sha-1/"+tc.wantCachedVer]
			m.mu.Unlock()
			_, stored, err := loadFeatures(context.Background(), h.Storage(), "sha-1", tc.wantCachedVer)
			if err != nil {
				t.Fatal(err)
			}
			if inMemory != tc.wantCached || stored != tc.wantCached {
				t.Errorf("cached in memory %v, in store %v; want %v", inMemory, stored, tc.wantCached)
			}
		})
	}
}

func TestPresenceLifecycle(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.IQResponder = answer(map[string]string{"juliet@example.org/balcony": exodusInfo})
	h.Provision(new(Module))
	s := h.Bind("juliet@example.org/balcony")
	const jid = "juliet@example.org/balcony"

	steps := []struct {
		name      string
		st        *xmpp.Stanza
		wantEntry string // "none", "new", "same"
	}{
		{name: "available without caps", st: presence(jid, ""), wantEntry: "none"},
		{name: "available with caps", st: presence(jid, c("sha-1", exodusNode, exodusVer, "")), wantEntry: "new"},
		{name: "same caps again", st: presence(jid, `<show>away</show>`+c("sha-1", exodusNode, exodusVer, "")), wantEntry: "same"},
		{name: "without caps keeps them", st: presence(jid, `<show>dnd</show>`), wantEntry: "same"},
		{name: "directed presence is ignored", st: func() *xmpp.Stanza {
			p := presence(jid, c("sha-1", "urn:other", "x", ""))
			p.To = xmpp.MustParseJID("romeo@example.org")
			return p
		}(), wantEntry: "same"},
		{name: "other caps replace them", st: presence(jid, c("sha-1", "urn:other", "x", "")), wantEntry: "new"},
		{name: "unavailable clears them", st: func() *xmpp.Stanza { p := presence(jid, ""); p.Type = "unavailable"; return p }(), wantEntry: "none"},
	}
	var last *Entry
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := h.Send(step.st); err != nil {
				t.Fatal(err)
			}
			e := Of(s)
			switch step.wantEntry {
			case "none":
				if e != nil {
					t.Errorf("entry = %+v, want none", e)
				}
			case "new":
				if e == nil || e == last {
					t.Errorf("entry = %p (before %p), want a new one", e, last)
				}
			case "same":
				if e != last {
					t.Errorf("entry = %p, want the previous %p", e, last)
				}
			}
			if e != nil {
				_, _ = wait(t, e)
			}
			last = e
			// The presence always goes on down the chain.
			var passed bool
			for _, r := range h.Routed() {
				passed = passed || r.Kind == xmpp.KindPresence
			}
			if !passed {
				t.Error("presence was not passed on")
			}
		})
	}
}

func TestConcurrentSessionsAskOnce(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	release := make(chan struct{})
	var mu sync.Mutex
	asked := 0
	h.IQResponder = func(iq *xmpp.Stanza) (*xmpp.Stanza, error) {
		mu.Lock()
		asked++
		mu.Unlock()
		<-release
		return result(iq, exodusInfo), nil
	}
	h.Provision(new(Module))
	var entries []*Entry
	for _, jid := range []string{"a@example.org/1", "b@example.org/2", "c@example.org/3"} {
		s := h.Bind(jid)
		if err := h.Send(presence(jid, c("sha-1", exodusNode, exodusVer, ""))); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Of(s))
	}
	close(release)
	for _, e := range entries {
		if f, err := wait(t, e); err != nil || len(f) != len(exodusFeatures) {
			t.Errorf("Wait = %q, %v", f, err)
		}
	}
	if asked != 1 {
		t.Errorf("%d disco#info queries, want 1", asked)
	}
}

func TestSessionClosedStopsResolution(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	release := make(chan struct{})
	defer close(release)
	h.IQResponder = func(iq *xmpp.Stanza) (*xmpp.Stanza, error) {
		<-release
		return result(iq, exodusInfo), nil
	}
	h.Provision(new(Module))
	s := h.Bind("juliet@example.org/balcony")
	if err := h.Send(presence("juliet@example.org/balcony", c("sha-1", exodusNode, exodusVer, ""))); err != nil {
		t.Fatal(err)
	}
	e := Of(s)
	h.Unbind("juliet@example.org/balcony")
	if _, err := wait(t, e); !errors.Is(err, errStopped) {
		t.Errorf("Wait error = %v, want %v", err, errStopped)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    Config
		wantErr bool
	}{
		{name: "defaults", src: "{}", want: defaultConfig()},
		{name: "set", src: "timeout: 5s\ncache_size: 10", want: Config{Timeout: 5 * time.Second, CacheSize: 10}},
		{name: "zero timeout", src: "timeout: 0s", wantErr: true},
		{name: "negative cache", src: "cache_size: -1", wantErr: true},
		{name: "unknown key", src: "ttl: 5s", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
				t.Fatal(err)
			}
			cfg := defaultConfig()
			err := conf.Decode(doc.Content[0], &cfg)
			if err == nil {
				err = cfg.validate()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && cfg != tc.want {
				t.Errorf("config = %+v, want %+v", cfg, tc.want)
			}
		})
	}
}
