// Package caps implements XEP-0115: Entity Capabilities (version 1.6.0).
//
// It advertises the server's own capabilities as a stream feature, hashed
// from the disco module's answer (disco answers the matching
// CapsNode#<ver> query), and it follows the capabilities clients announce
// in their broadcast presence: each session's <c/> is recorded as an Entry
// whose features are looked up in a cache of verified sets (memory, then
// the store) or asked of the client with disco#info and verified against
// the hash (§5.4) before they are cached for everyone. The PEP module reads
// them through Of to find a session's +notify features.
package caps

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/xml"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/disco"
	"github.com/parley-im/parley/xmpp"
)

// NS is the entity capabilities namespace.
const NS = "http://jabber.org/protocol/caps"

const id = "caps"

// maxExt bounds the legacy 'ext' bundles queried for one presence.
const maxExt = 8

func init() { modules.Register(new(Module)) }

// Module records and resolves clients' capabilities and advertises the
// server's.
type Module struct {
	h   modules.Host
	log *slog.Logger
	cfg Config

	once sync.Once
	ver  string // the server's SHA-1 verification string

	mu      sync.Mutex
	cache   map[string][]string // "<hash>/<ver>" → verified features, sorted
	flights map[string]*flight  // queries in progress, by the same key
}

// flight is one disco#info query whose verified answer other sessions
// advertising the same hash and ver wait for, so that one entity is asked
// rather than all of them.
type flight struct {
	done     chan struct{}
	features []string // nil unless the answer was verified
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       id,
		XEPs:     []int{115},
		Features: []string{NS},
		New:      func() modules.Module { return new(Module) },
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
	m.cache = map[string][]string{}
	m.flights = map[string]*flight{}
	h.Use(modules.Inbound, m.inbound)
	return nil
}

// StreamFeatures implements modules.StreamFeaturer: the server's own
// capabilities, once the client is authenticated (XEP-0115 §6.3).
func (m *Module) StreamFeatures(dst []byte, _ string, authenticated bool) []byte {
	if !authenticated {
		return dst
	}
	dst = append(dst, `<c xmlns="`+NS+`" hash="sha-1" node="`+disco.CapsNode+`" ver="`...)
	dst = xmpp.AppendEscaped(dst, m.serverVer(), true)
	return append(dst, `"/>`...)
}

// serverVer is computed once, after every module is provisioned, from
// the same value the disco module answers with.
func (m *Module) serverVer() string {
	m.once.Do(func() { m.ver = disco.ServerInfo(m.h.Modules()).Ver(sha1.New) })
	return m.ver
}

// SessionBound implements modules.SessionObserver.
func (m *Module) SessionBound(context.Context, modules.Session) {}

// SessionClosed implements modules.SessionObserver: a resolution still
// running for the session is abandoned.
func (m *Module) SessionClosed(_ context.Context, s modules.Session) {
	if e := Of(s); e != nil {
		e.stop()
	}
}

// inbound records the capabilities of broadcast presences and always
// passes the stanza on.
func (m *Module) inbound(next modules.Handler) modules.Handler {
	return modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		if st.Kind == xmpp.KindPresence && st.To.IsZero() {
			m.observe(st)
		}
		return next.HandleStanza(ctx, st)
	})
}

func (m *Module) observe(st *xmpp.Stanza) {
	s := m.h.Sessions().Session(st.From)
	if s == nil {
		return
	}
	switch st.Type {
	case "unavailable":
		if e := Of(s); e != nil {
			e.stop()
			s.SetValue(id, nil)
		}
		return
	case "":
	default:
		return
	}
	node, ver, hash, ext, ok := parseC(st)
	if !ok {
		// A presence without <c/> keeps what the session advertised
		// last (XEP-0115 §8.4: annotations need not be repeated).
		return
	}
	if e := Of(s); e != nil {
		if e.Node == node && e.Ver == ver && e.Hash == hash && e.Ext == ext && !e.failed() {
			return
		}
		e.stop()
	}
	e := newEntry(node, ver, hash, ext)
	s.SetValue(id, e)
	m.resolve(st.From, e)
}

// parseC returns the attributes of the presence's <c/> element; ok is false
// if it has none, or one without node or ver.
func parseC(st *xmpp.Stanza) (node, ver, hash, ext string, ok bool) {
	if !bytes.Contains(st.Inner, []byte(NS)) {
		return "", "", "", "", false
	}
	d := st.Decoder()
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return "", "", "", "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name.Space == NS && t.Name.Local == "c" {
				for _, a := range t.Attr {
					switch a.Name {
					case xml.Name{Local: "node"}:
						node = a.Value
					case xml.Name{Local: "ver"}:
						ver = a.Value
					case xml.Name{Local: "hash"}:
						hash = a.Value
					case xml.Name{Local: "ext"}:
						ext = a.Value
					}
				}
				return node, ver, hash, ext, node != "" && ver != ""
			}
			depth++
		case xml.EndElement:
			depth--
			if depth < 0 {
				return "", "", "", "", false
			}
		}
	}
}

// resolve settles e from the memory cache at once, or starts a background
// lookup.
func (m *Module) resolve(from xmpp.JID, e *Entry) {
	if _, ok := hashes[e.Hash]; ok {
		m.mu.Lock()
		f, hit := m.cache[e.Hash+"/"+e.Ver]
		m.mu.Unlock()
		if hit {
			e.resolve(f, nil)
			return
		}
	}
	m.h.Go("caps resolve", func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
		if !e.start(cancel) {
			return
		}
		f, err := m.lookup(ctx, from, e)
		if err != nil {
			m.log.Debug("capabilities not resolved", "jid", from, "node", e.Node, "ver", e.Ver, "err", err)
		}
		e.resolve(f, err)
	})
}

// lookup finds the features of e: verified ones from the store, from
// another session's query or from the client's own answer; unverifiable
// ones (legacy format, unknown hash, wrong hash) from the client's answer
// for this session only.
func (m *Module) lookup(ctx context.Context, from xmpp.JID, e *Entry) ([]string, error) {
	newHash, ok := hashes[e.Hash]
	if !ok {
		return m.unverified(ctx, from, e)
	}
	key := e.Hash + "/" + e.Ver
	if f, ok, err := loadFeatures(ctx, m.h.Storage(), e.Hash, e.Ver); err != nil {
		m.log.Warn("capabilities cache unreadable", "err", err)
	} else if ok {
		m.remember(key, f)
		return f, nil
	}
	f, fl, leader := m.join(key)
	if f != nil {
		return f, nil
	}
	if leader {
		defer m.land(key, fl)
	} else {
		select {
		case <-fl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if fl.features != nil {
			return fl.features, nil
		}
		// The entity asked first did not prove the hash: ask ours
		// (XEP-0115 §5.4 step 3.9).
	}
	info, err := m.query(ctx, from, e.Node+"#"+e.Ver)
	if err != nil {
		return nil, err
	}
	features := slices.Sorted(slices.Values(info.Features))
	if got := info.Ver(newHash); got != e.Ver {
		m.log.Info("capabilities hash mismatch: features kept for this session only",
			"jid", from, "node", e.Node, "hash", e.Hash, "ver", e.Ver, "computed", got)
		return features, nil
	}
	m.remember(key, features)
	if leader {
		fl.features = features
	}
	if err := saveFeatures(ctx, m.h.Storage(), e.Hash, e.Ver, features); err != nil {
		m.log.Warn("capabilities not stored", "err", err)
	}
	return features, nil
}

// unverified asks the client for the features of a <c/> whose ver cannot be
// checked: the legacy format (node#ver plus node#ext for each bundle, whose
// union is the entity's features) or a hash this server does not know.
func (m *Module) unverified(ctx context.Context, from xmpp.JID, e *Entry) ([]string, error) {
	nodes := []string{e.Node + "#" + e.Ver}
	if e.Hash == "" {
		for i, ext := range strings.Fields(e.Ext) {
			if i == maxExt {
				break
			}
			nodes = append(nodes, e.Node+"#"+ext)
		}
	}
	var features []string
	for _, node := range nodes {
		info, err := m.query(ctx, from, node)
		if err != nil {
			return nil, err
		}
		features = append(features, info.Features...)
	}
	slices.Sort(features)
	return slices.Compact(features), nil
}

// join returns the cached features of key, or the flight to wait for, or a
// new flight the caller leads (and must land).
func (m *Module) join(key string) (cached []string, fl *flight, leader bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.cache[key]; ok {
		return f, nil, false
	}
	if fl := m.flights[key]; fl != nil {
		return nil, fl, false
	}
	fl = &flight{done: make(chan struct{})}
	m.flights[key] = fl
	return nil, fl, true
}

func (m *Module) land(key string, fl *flight) {
	m.mu.Lock()
	delete(m.flights, key)
	m.mu.Unlock()
	close(fl.done)
}

// remember caches a verified set, dropping an arbitrary one when full.
func (m *Module) remember(key string, features []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cache[key]; !ok && len(m.cache) >= m.cfg.CacheSize {
		for k := range m.cache {
			delete(m.cache, k)
			break
		}
	}
	m.cache[key] = features
}

// query sends disco#info on node to the client's full JID, from its
// server's domain.
func (m *Module) query(ctx context.Context, to xmpp.JID, node string) (disco.Info, error) {
	iq := &xmpp.Stanza{
		Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: "caps-" + rand.Text(),
		Type: "get", From: to.DomainJID(), To: to,
		Payload: xml.Name{Space: disco.NSInfo, Local: "query"},
	}
	iq.Inner = append(iq.Inner, `<query xmlns="`+disco.NSInfo+`" node="`...)
	iq.Inner = xmpp.AppendEscaped(iq.Inner, node, true)
	iq.Inner = append(iq.Inner, `"/>`...)
	resp, err := m.h.SendIQ(ctx, iq)
	if err != nil {
		return disco.Info{}, fmt.Errorf("caps: disco#info to %s: %w", to, err)
	}
	if resp.Type != "result" {
		return disco.Info{}, fmt.Errorf("caps: disco#info to %s answered with type %q", to, resp.Type)
	}
	return parseInfo(resp)
}

var (
	_ modules.Module          = (*Module)(nil)
	_ modules.StreamFeaturer  = (*Module)(nil)
	_ modules.SessionObserver = (*Module)(nil)
)
