package server

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// provisionModules provisions every enabled module in modules.Order, then
// compiles the three chains once.
func (srv *Server) provisionModules(ctx context.Context) error {
	known := make([]string, 0, len(modules.Order))
	known = append(known, modules.Order...)
	if err := srv.cfg.CheckModules(known); err != nil {
		return err
	}
	chains := map[modules.Stage][]modules.Middleware{}
	for _, info := range modules.Registered() {
		enabled, _ := srv.cfg.Module(info.ID)
		if !enabled {
			srv.log.Info("module disabled by configuration", "module", info.ID)
			continue
		}
		m := info.New()
		h := &moduleHost{srv: srv, id: info.ID, log: srv.log.With("module", info.ID), chains: chains}
		if err := m.Provision(ctx, h); err != nil {
			return fmt.Errorf("module %s: %w", info.ID, err)
		}
		if h.err != nil {
			return fmt.Errorf("module %s: %w", info.ID, h.err)
		}
		if !h.configured {
			// A module without options still gets its block checked, so
			// a key in it is reported as unknown rather than ignored.
			if err := srv.cfg.DecodeModule(info.ID, &struct{}{}); err != nil {
				return err
			}
		}
		srv.mods = append(srv.mods, m)
		srv.infos = append(srv.infos, info)
		if o, ok := m.(modules.SessionObserver); ok {
			srv.sessObs = append(srv.sessObs, o)
		}
		if o, ok := m.(modules.AccountObserver); ok {
			srv.acctObs = append(srv.acctObs, o)
		}
		if f, ok := m.(modules.StreamFeaturer); ok {
			srv.featurers = append(srv.featurers, f)
		}
	}
	srv.inbound = compile(chains[modules.Inbound], modules.HandlerFunc(srv.route))
	srv.deliverChain = compile(chains[modules.Deliver], modules.HandlerFunc(srv.enqueueEnd))
	srv.unroutedChain = compile(chains[modules.Unrouted], modules.HandlerFunc(
		func(context.Context, *xmpp.Stanza) error {
			return xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
		}))
	return nil
}

// compile wraps end in the middlewares, first to last.
func compile(mws []modules.Middleware, end modules.Handler) modules.Handler {
	h := end
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// stopModules stops modules in reverse provision order.
func (srv *Server) stopModules(ctx context.Context) {
	for i := len(srv.mods) - 1; i >= 0; i-- {
		if s, ok := srv.mods[i].(modules.Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				srv.log.Error("module stop failed", "module", srv.infos[i].ID, "err", err)
			}
		}
	}
}

// moduleHost is the modules.Host one module is provisioned with.
type moduleHost struct {
	srv        *Server
	id         string
	log        *slog.Logger
	chains     map[modules.Stage][]modules.Middleware
	err        error // first registration error, reported after Provision
	configured bool  // Config was called
}

func (h *moduleHost) Config(v any) error {
	h.configured = true
	return h.srv.cfg.DecodeModule(h.id, v)
}

func (h *moduleHost) Logger() *slog.Logger { return h.log }

func (h *moduleHost) Storage() storage.Backend { return h.srv.store }

func (h *moduleHost) IsLocal(domain string) bool { return h.srv.isLocal(domain) }

func (h *moduleHost) Domains() []string {
	out := make([]string, 0, len(h.srv.cfg.Hosts))
	for _, c := range h.srv.cfg.Hosts {
		out = append(out, c.Domain)
	}
	return out
}

func (h *moduleHost) Registration(domain string) bool { return h.srv.hosts[domain].Registration }

func (h *moduleHost) Route(ctx context.Context, st *xmpp.Stanza) error {
	return h.srv.Route(ctx, st)
}

func (h *moduleHost) Deliver(ctx context.Context, to xmpp.JID, st *xmpp.Stanza) bool {
	r := h.srv.router.session(to)
	if r == nil {
		return false
	}
	h.srv.deliver(ctx, r, st)
	return true
}

func (h *moduleHost) SendIQ(ctx context.Context, iq *xmpp.Stanza) (*xmpp.Stanza, error) {
	return h.srv.iqs.send(ctx, h.srv, iq)
}

func (h *moduleHost) HandleIQ(ns string, f modules.IQHandler) {
	if _, dup := h.srv.iqHandlers[ns]; dup && h.err == nil {
		h.err = fmt.Errorf("IQ namespace %s has another owner", ns)
		return
	}
	h.srv.iqHandlers[ns] = f
}

func (h *moduleHost) HandlePreAuthIQ(ns string, f modules.IQHandler) {
	if _, dup := h.srv.preAuthIQ[ns]; dup && h.err == nil {
		h.err = fmt.Errorf("pre-auth IQ namespace %s has another owner", ns)
		return
	}
	h.srv.preAuthIQ[ns] = f
}

func (h *moduleHost) Use(at modules.Stage, mw modules.Middleware) {
	h.chains[at] = append(h.chains[at], mw)
}

func (h *moduleHost) Sessions() modules.Sessions { return sessionTable{h.srv.router} }

func (h *moduleHost) Accounts() modules.Accounts { return h.srv.accounts }

func (h *moduleHost) Modules() []modules.Info { return h.srv.infos }

func (h *moduleHost) Go(name string, f func(ctx context.Context)) {
	h.srv.bg.Add(1)
	go func() {
		defer h.srv.bg.Done()
		defer func() {
			if r := recover(); r != nil {
				h.log.Error("background task panicked", "task", name, "panic", r)
			}
		}()
		f(h.srv.ctx)
	}()
}

// Route is Host.Route for server components: route st as sent by st.From.
func (srv *Server) Route(ctx context.Context, st *xmpp.Stanza) error {
	if err := srv.route(ctx, st); err != nil {
		srv.fail(ctx, st.Clone(), err)
	}
	return nil
}

type sessionTable struct{ r *router }

func (t sessionTable) Resources(bare xmpp.JID) []modules.Session {
	list := t.r.resources(bare.Bare())
	out := make([]modules.Session, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

func (t sessionTable) Session(full xmpp.JID) modules.Session {
	if s := t.r.session(full); s != nil {
		return s
	}
	return nil
}

// iqTracker matches replies to server-originated IQs. A reply counts only
// if it comes from the address the request went to (CVE-2024-46957 was a
// client library routing a reply by id alone).
type iqTracker struct {
	next    atomic.Uint64
	mu      sync.Mutex
	waiting map[string]iqWaiter
}

type iqWaiter struct {
	to xmpp.JID
	ch chan *xmpp.Stanza
}

func (t *iqTracker) send(ctx context.Context, srv *Server, iq *xmpp.Stanza) (*xmpp.Stanza, error) {
	iq = iq.Clone()
	iq.ID = "parley-" + strconv.FormatUint(t.next.Add(1), 36)
	ch := make(chan *xmpp.Stanza, 1)
	t.mu.Lock()
	if t.waiting == nil {
		t.waiting = map[string]iqWaiter{}
	}
	t.waiting[iq.ID] = iqWaiter{to: iq.To, ch: ch}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.waiting, iq.ID)
		t.mu.Unlock()
	}()
	if err := srv.route(ctx, iq); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Type == "error" {
			return r, fmt.Errorf("server: iq %s answered with an error: %s", iq.ID, r.Inner)
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// resolve hands a result or error to its waiter; unknown ids are dropped.
func (t *iqTracker) resolve(st *xmpp.Stanza) {
	t.mu.Lock()
	w, ok := t.waiting[st.ID]
	if ok && w.to == st.From {
		delete(t.waiting, st.ID)
	} else {
		ok = false
	}
	t.mu.Unlock()
	if ok {
		w.ch <- st.Clone()
	}
}

var _ modules.Host = (*moduleHost)(nil)
