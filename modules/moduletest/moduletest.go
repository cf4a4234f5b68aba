// Package moduletest provides a recording modules.Host for unit tests of
// modules, in the spirit of net/http/httptest: an in-memory store, a fake
// session table, and a record of every stanza a module routes or delivers.
//
// A test provisions the module under test (and any it depends on) on a Host,
// then drives it with Host.Send (a client stanza entering the Inbound chain)
// or Host.IQ (an IQ to the server), and reads what came out of Host.Routed and
// Host.Delivered.
package moduletest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Host is a recording modules.Host. Its zero value is not usable: use NewHost.
type Host struct {
	t      testing.TB
	store  storage.Backend
	domain []string
	open   map[string]bool

	mu        sync.Mutex
	configs   map[string]*yaml.Node
	iq        map[string]modules.IQHandler
	preauth   map[string]modules.IQHandler
	chain     map[modules.Stage][]modules.Middleware
	infos     []modules.Info
	sessions  map[xmpp.JID]*Session
	accounts  map[xmpp.JID]string
	routed    []*xmpp.Stanza
	delivered []Delivery
	provided  []modules.Module

	// IQResponder answers SendIQ; nil answers every IQ with
	// service-unavailable.
	IQResponder func(iq *xmpp.Stanza) (*xmpp.Stanza, error)
}

// Delivery is one stanza handed to one session.
type Delivery struct {
	To     xmpp.JID
	Stanza *xmpp.Stanza
}

// NewHost returns a Host for the given local domains ("localhost" if none).
func NewHost(t testing.TB, domains ...string) *Host {
	t.Helper()
	if len(domains) == 0 {
		domains = []string{"localhost"}
	}
	return &Host{
		t: t, store: NewMemStore(), domain: domains, open: map[string]bool{},
		configs: map[string]*yaml.Node{}, iq: map[string]modules.IQHandler{},
		preauth: map[string]modules.IQHandler{}, chain: map[modules.Stage][]modules.Middleware{},
		sessions: map[xmpp.JID]*Session{}, accounts: map[xmpp.JID]string{},
	}
}

// SetConfig gives module id the YAML block src before it is provisioned.
func (h *Host) SetConfig(id, src string) {
	h.t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		h.t.Fatalf("moduletest: config for %s: %v", id, err)
	}
	h.configs[id] = doc.Content[0]
}

// SetRegistration opens or closes in-band registration on domain.
func (h *Host) SetRegistration(domain string, open bool) { h.open[domain] = open }

// Provision provisions m (scoped to its ID) and records it for Stop.
func (h *Host) Provision(m modules.Module) {
	h.t.Helper()
	info := m.Info()
	h.mu.Lock()
	h.infos = append(h.infos, info)
	h.provided = append(h.provided, m)
	h.mu.Unlock()
	if err := m.Provision(context.Background(), &scoped{Host: h, id: info.ID}); err != nil {
		h.t.Fatalf("moduletest: provision %s: %v", info.ID, err)
	}
	h.t.Cleanup(func() {
		if s, ok := m.(modules.Stopper); ok {
			_ = s.Stop(context.Background())
		}
	})
}

// Bind adds a bound session for full and tells every provisioned
// SessionObserver. It returns the session for further setup.
func (h *Host) Bind(full string) *Session {
	h.t.Helper()
	j := xmpp.MustParseJID(full)
	s := &Session{jid: j, values: map[string]any{}}
	h.mu.Lock()
	h.sessions[j] = s
	obs := slices.Clone(h.provided)
	h.mu.Unlock()
	for _, m := range obs {
		if o, ok := m.(modules.SessionObserver); ok {
			o.SessionBound(context.Background(), s)
		}
	}
	return s
}

// Unbind removes the session and tells every SessionObserver.
func (h *Host) Unbind(full string) {
	j := xmpp.MustParseJID(full)
	h.mu.Lock()
	s := h.sessions[j]
	delete(h.sessions, j)
	obs := slices.Clone(h.provided)
	h.mu.Unlock()
	if s == nil {
		return
	}
	for _, m := range obs {
		if o, ok := m.(modules.SessionObserver); ok {
			o.SessionClosed(context.Background(), s)
		}
	}
}

// Send runs st through the Inbound chain as a client stanza, then, if no
// module consumed it, through the Host's own routing (Route). It returns
// the chain's error.
func (h *Host) Send(st *xmpp.Stanza) error {
	return h.run(modules.Inbound, context.Background(), st, modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		return h.Route(ctx, st)
	}))
}

// IQ calls the handler registered for the IQ's payload namespace, as the
// server would for an IQ addressed to it.
func (h *Host) IQ(st *xmpp.Stanza) ([]byte, error) {
	h.mu.Lock()
	f := h.iq[st.Payload.Space]
	h.mu.Unlock()
	if f == nil {
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "no handler for "+st.Payload.Space)
	}
	return f(context.Background(), st)
}

// PreAuthIQ calls the pre-authentication handler for the payload namespace.
func (h *Host) PreAuthIQ(st *xmpp.Stanza) ([]byte, error) {
	h.mu.Lock()
	f := h.preauth[st.Payload.Space]
	h.mu.Unlock()
	if f == nil {
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "no pre-auth handler for "+st.Payload.Space)
	}
	return f(context.Background(), st)
}

// RunUnrouted runs st through the Unrouted chain; the end of the chain
// reports a service-unavailable error.
func (h *Host) RunUnrouted(st *xmpp.Stanza) error {
	return h.run(modules.Unrouted, context.Background(), st, modules.HandlerFunc(func(context.Context, *xmpp.Stanza) error {
		return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "unrouted")
	}))
}

// RunDeliver runs st through the Deliver chain for the session bound to
// full (modules.Target names it), as the server does before queueing a
// stanza for a session; the end of the chain records the delivery as
// Deliver does. It returns the chain's error.
func (h *Host) RunDeliver(full string, st *xmpp.Stanza) error {
	h.t.Helper()
	j := xmpp.MustParseJID(full)
	h.mu.Lock()
	s := h.sessions[j]
	h.mu.Unlock()
	if s == nil {
		h.t.Fatalf("moduletest: RunDeliver: no session bound to %s", full)
	}
	ctx := modules.WithTarget(context.Background(), s)
	return h.run(modules.Deliver, ctx, st, modules.HandlerFunc(func(ctx context.Context, st *xmpp.Stanza) error {
		h.Deliver(ctx, j, st)
		return nil
	}))
}

func (h *Host) run(at modules.Stage, ctx context.Context, st *xmpp.Stanza, end modules.Handler) error {
	h.mu.Lock()
	mws := slices.Clone(h.chain[at])
	h.mu.Unlock()
	next := end
	for i := len(mws) - 1; i >= 0; i-- {
		next = mws[i](next)
	}
	return next.HandleStanza(ctx, st)
}

// Routed returns and forgets the stanzas routed so far (clones).
func (h *Host) Routed() []*xmpp.Stanza {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.routed
	h.routed = nil
	return r
}

// Delivered returns and forgets the deliveries so far (clones).
func (h *Host) Delivered() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.delivered
	h.delivered = nil
	return d
}

// AddAccount creates an account directly.
func (h *Host) AddAccount(user, password string) {
	h.mu.Lock()
	h.accounts[xmpp.MustParseJID(user)] = password
	h.mu.Unlock()
}

// Password returns the stored password of user, and whether it exists.
func (h *Host) Password(user string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.accounts[xmpp.MustParseJID(user)]
	return p, ok
}

// Storage implements modules.Host.
func (h *Host) Storage() storage.Backend { return h.store }

// IsLocal implements modules.Host.
func (h *Host) IsLocal(domain string) bool { return slices.Contains(h.domain, domain) }

// Domains implements modules.Host.
func (h *Host) Domains() []string { return slices.Clone(h.domain) }

// Registration implements modules.Host.
func (h *Host) Registration(domain string) bool { return h.open[domain] }

// Route records a clone of st. It does not deliver: tests look at Routed.
func (h *Host) Route(_ context.Context, st *xmpp.Stanza) error {
	h.mu.Lock()
	h.routed = append(h.routed, st.Clone())
	h.mu.Unlock()
	return nil
}

// Deliver records a clone of st if a session is bound to to.
func (h *Host) Deliver(_ context.Context, to xmpp.JID, st *xmpp.Stanza) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[to] == nil {
		return false
	}
	h.delivered = append(h.delivered, Delivery{To: to, Stanza: st.Clone()})
	return true
}

// SendIQ records iq like Route and answers it through IQResponder.
func (h *Host) SendIQ(ctx context.Context, iq *xmpp.Stanza) (*xmpp.Stanza, error) {
	_ = h.Route(ctx, iq)
	h.mu.Lock()
	f := h.IQResponder
	h.mu.Unlock()
	if f == nil {
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "no IQResponder")
	}
	return f(iq)
}

// Sessions implements modules.Host.
func (h *Host) Sessions() modules.Sessions { return sessions{h} }

// Accounts implements modules.Host.
func (h *Host) Accounts() modules.Accounts { return accounts{h} }

// Modules implements modules.Host.
func (h *Host) Modules() []modules.Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.infos)
}

// Go implements modules.Host; the goroutine's context ends with the test.
func (h *Host) Go(name string, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// scoped is the Host as one module sees it.
type scoped struct {
	*Host
	id string
}

func (s *scoped) Config(v any) error {
	n := s.configs[s.id]
	if n == nil {
		return nil
	}
	return conf.Decode(n, v)
}

func (s *scoped) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{s.t}, nil)).With("module", s.id)
}

func (s *scoped) HandleIQ(ns string, f modules.IQHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iq[ns] != nil {
		s.t.Fatalf("moduletest: %s: IQ namespace %s registered twice", s.id, ns)
	}
	s.iq[ns] = f
}

func (s *scoped) HandlePreAuthIQ(ns string, f modules.IQHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.preauth[ns] = f
}

func (s *scoped) Use(at modules.Stage, mw modules.Middleware) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chain[at] = append(s.chain[at], mw)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// Session is a fake bound session.
type Session struct {
	mu         sync.Mutex
	jid        xmpp.JID
	presence   *xmpp.Stanza
	priority   int8
	interested bool
	values     map[string]any
	closed     *xmpp.StreamError
}

// Closed returns the stream error the session was closed with, or nil.
func (s *Session) Closed() *xmpp.StreamError { s.mu.Lock(); defer s.mu.Unlock(); return s.closed }

func (s *Session) Close(cond xmpp.StreamCondition, text string) {
	s.mu.Lock()
	s.closed = xmpp.NewStreamError(cond, text)
	s.mu.Unlock()
}

func (s *Session) JID() xmpp.JID { return s.jid }

func (s *Session) Available() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.presence != nil }

func (s *Session) Priority() int8 { s.mu.Lock(); defer s.mu.Unlock(); return s.priority }

func (s *Session) Presence() *xmpp.Stanza { s.mu.Lock(); defer s.mu.Unlock(); return s.presence }

func (s *Session) Interested() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.interested }

func (s *Session) SetAvailable(p *xmpp.Stanza) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		s.presence, s.priority = nil, 0
		return
	}
	s.presence = p.Clone()
	s.priority = priorityOf(p)
}

func (s *Session) SetInterested() { s.mu.Lock(); s.interested = true; s.mu.Unlock() }

func (s *Session) Value(key string) any { s.mu.Lock(); defer s.mu.Unlock(); return s.values[key] }

func (s *Session) SetValue(key string, v any) { s.mu.Lock(); s.values[key] = v; s.mu.Unlock() }

// SetPriority sets the session's presence priority directly.
func (s *Session) SetPriority(p int8) { s.mu.Lock(); s.priority = p; s.mu.Unlock() }

func priorityOf(p *xmpp.Stanza) int8 {
	var n int
	if txt, ok := p.ChildText(xmpp.NSClient, "priority"); ok {
		if _, err := fmt.Sscan(txt, &n); err == nil && n >= -128 && n <= 127 {
			return int8(n)
		}
	}
	return 0
}

type sessions struct{ h *Host }

func (s sessions) Resources(bare xmpp.JID) []modules.Session {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var out []modules.Session
	for j, sess := range s.h.sessions {
		if j.Bare() == bare.Bare() {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b modules.Session) int {
		if a.JID().String() < b.JID().String() {
			return -1
		}
		return 1
	})
	return out
}

func (s sessions) Session(full xmpp.JID) modules.Session {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if sess := s.h.sessions[full]; sess != nil {
		return sess
	}
	return nil
}

type accounts struct{ h *Host }

func (a accounts) Create(_ context.Context, user xmpp.JID, password string) error {
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	if _, ok := a.h.accounts[user.Bare()]; ok {
		return modules.ErrAccountExists
	}
	a.h.accounts[user.Bare()] = password
	return nil
}

func (a accounts) SetPassword(_ context.Context, user xmpp.JID, password string) error {
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	if _, ok := a.h.accounts[user.Bare()]; !ok {
		return errors.New("moduletest: no such account")
	}
	a.h.accounts[user.Bare()] = password
	return nil
}

func (a accounts) Delete(ctx context.Context, user xmpp.JID) error {
	a.h.mu.Lock()
	delete(a.h.accounts, user.Bare())
	obs := slices.Clone(a.h.provided)
	a.h.mu.Unlock()
	for _, m := range obs {
		if o, ok := m.(modules.AccountObserver); ok {
			if err := o.AccountDeleted(ctx, user.Bare()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a accounts) Exists(_ context.Context, user xmpp.JID) (bool, error) {
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	_, ok := a.h.accounts[user.Bare()]
	return ok, nil
}

// NewStanza builds a stanza as the server hands it to a module: kind, id,
// type, from and to ("" for none), the content, and Payload set to the
// content's first element, as the scanner would set it.
func NewStanza(kind xmpp.Kind, id, typ, from, to, inner string) *xmpp.Stanza {
	st := &xmpp.Stanza{Kind: kind, Name: kind.String(), Space: xmpp.NSClient, ID: id, Type: typ, Inner: []byte(inner)}
	if from != "" {
		st.From = xmpp.MustParseJID(from)
	}
	if to != "" {
		st.To = xmpp.MustParseJID(to)
	}
	if start, err := xmpp.NextStart(xml.NewDecoder(strings.NewReader(inner))); err == nil {
		st.Payload = start.Name
	}
	return st
}
