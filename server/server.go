// Package server is Parley's tier 3: listeners and transports (XMPP over
// TCP with STARTTLS, direct TLS per XEP-0368, WebSocket per RFC 7395),
// stream negotiation (SASL, bind), sessions with their read and write
// loops, the router, the module host, and the admin endpoint.
//
// The data path follows DESIGN §4: a session's reader goroutine scans a
// stanza into a pooled xmpp.Stanza, stamps 'from', runs the Inbound chain
// whose end is the router; the router appends encoded bytes to each
// recipient's output queue and the recipients' writers are started once per
// read batch. Lock order is in LOCKS.md.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/server/auth"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
	"github.com/parley-im/parley/xmpp/xmlscan"
)

// Server is a running Parley instance.
type Server struct {
	cfg        *conf.Config
	log        *slog.Logger
	limits     conf.Limits
	scanLimits xmlscan.Limits
	hosts      map[string]conf.Host

	store    storage.Backend
	accounts *auth.Store
	mechs    []auth.Mechanism
	certs    *certStore
	router   *router
	iqs      iqTracker
	metrics  *metrics

	mods          []modules.Module
	infos         []modules.Info
	iqHandlers    map[string]modules.IQHandler
	preAuthIQ     map[string]modules.IQHandler
	featurers     []modules.StreamFeaturer
	sessObs       []modules.SessionObserver
	acctObs       []modules.AccountObserver
	inbound       modules.Handler
	deliverChain  modules.Handler
	unroutedChain modules.Handler

	listeners    []boundListener
	admin        http.Handler
	conns        counter
	fdLimit      uint64
	writeTimeout time.Duration

	ctx    context.Context // cancelled at shutdown
	cancel context.CancelFunc
	bg     sync.WaitGroup // module background work
	live   sync.WaitGroup // connections being served
}

// New opens the store, loads certificates and provisions the modules. It
// does not listen yet: Run does.
func New(ctx context.Context, cfg *conf.Config, log *slog.Logger) (*Server, error) {
	srv := &Server{
		cfg: cfg, log: log, limits: cfg.Limits,
		hosts:        map[string]conf.Host{},
		router:       newRouter(),
		iqHandlers:   map[string]modules.IQHandler{},
		preAuthIQ:    map[string]modules.IQHandler{},
		writeTimeout: 30 * time.Second,
	}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	srv.scanLimits = xmlscan.Limits{MaxStanza: cfg.Limits.MaxStanzaBytes}
	for _, h := range cfg.Hosts {
		srv.hosts[h.Domain] = h
	}
	limit, err := fileLimit()
	if err != nil {
		return nil, err
	}
	srv.fdLimit = limit
	srv.conns.cap = sessionCap(cfg.Limits.MaxSessions, limit, cfg.Limits.FDReserve)
	srv.metrics = newMetrics(srv)

	srv.store, err = storage.Open(ctx, cfg.Storage.Backend, storage.Options{
		Dir:          cfg.DataDir,
		Config:       &cfg.Storage.Options,
		MaxOpenFiles: 256,
		Logger:       log.With("component", "storage"),
		OnCommit:     srv.metrics.observeCommit,
	})
	if err != nil {
		return nil, conf.Qualify(err, cfg.File, "storage.options")
	}
	if srv.accounts, err = auth.NewStore(srv.store, auth.StoreOptions{OnDelete: srv.accountDeleted}); err != nil {
		srv.store.Close()
		return nil, err
	}
	srv.mechs = auth.Mechanisms(srv.accounts, auth.NewLimiter(
		authRate(cfg.Limits.AuthPerIP), authRate(cfg.Limits.AuthPerAccount)))
	if srv.certs, err = loadCerts(cfg, log); err != nil {
		srv.store.Close()
		return nil, err
	}
	// The legacy session IQ (RFC 3921 §3) is answered and advertised as
	// optional, for clients that still send it.
	srv.iqHandlers[xmpp.NSSession] = func(context.Context, *xmpp.Stanza) ([]byte, error) { return nil, nil }
	if err := srv.provisionModules(ctx); err != nil {
		srv.store.Close()
		return nil, err
	}
	return srv, nil
}

// Accounts returns the account store (for the admin API and the CLI).
func (srv *Server) Accounts() *auth.Store { return srv.accounts }

func (srv *Server) isLocal(domain string) bool {
	_, ok := srv.hosts[domain]
	return ok
}

// accountDeleted runs before an account's credentials are removed: modules
// drop their data and the account's sessions are closed.
func (srv *Server) accountDeleted(ctx context.Context, user xmpp.JID) error {
	for _, o := range srv.acctObs {
		if err := o.AccountDeleted(ctx, user); err != nil {
			return err
		}
	}
	for _, s := range srv.router.resources(user.Bare()) {
		s.close(xmpp.NewStreamError(xmpp.StreamNotAuthorized, "the account was removed"))
	}
	return nil
}

// Run listens and serves until ctx ends (Listen, then Serve).
func (srv *Server) Run(ctx context.Context) error {
	if err := srv.Listen(); err != nil {
		srv.shutdown()
		return err
	}
	return srv.Serve(ctx)
}

// Listen opens every configured listener and the admin endpoint. A port of
// 0 picks a free one; Addr tells which.
func (srv *Server) Listen() error {
	for _, lc := range srv.cfg.Listeners {
		l, err := net.Listen("tcp", lc.Address)
		if err != nil {
			srv.closeListeners()
			return fmt.Errorf("server: listen %s %s: %w", lc.Type, lc.Address, err)
		}
		srv.listeners = append(srv.listeners, boundListener{conf: lc, l: l})
		srv.log.Info("listening", "type", lc.Type, "address", l.Addr().String())
	}
	if a := srv.cfg.Admin.Address; a != "" && a != "off" {
		l, err := net.Listen("tcp", a)
		if err != nil {
			srv.closeListeners()
			return fmt.Errorf("server: listen admin %s: %w", a, err)
		}
		srv.listeners = append(srv.listeners, boundListener{conf: conf.Listener{Type: "admin", Address: a}, l: l})
		srv.admin = srv.adminHandler() // writes the token before anyone can ask
		srv.log.Info("admin endpoint", "address", l.Addr().String())
	}
	return nil
}

// Addr returns the address of the first listener of the given type
// ("xmpp", "xmpps", "websocket" or "admin"), or nil.
func (srv *Server) Addr(typ string) net.Addr {
	for _, b := range srv.listeners {
		if b.conf.Type == typ {
			return b.l.Addr()
		}
	}
	return nil
}

type boundListener struct {
	conf conf.Listener
	l    net.Listener
}

func (srv *Server) closeListeners() {
	for _, b := range srv.listeners {
		_ = b.l.Close()
	}
}

// Serve accepts on the listeners opened by Listen until ctx ends, then
// shuts down gracefully: listeners close, every client gets its stream
// closed, modules stop and the store is flushed and closed.
func (srv *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(srv.listeners))
	for _, b := range srv.listeners {
		wg.Add(1)
		go func(b boundListener) {
			defer wg.Done()
			var err error
			if b.conf.Type == "admin" {
				err = serveHTTP(ctx, b.l, srv.admin)
			} else {
				err = srv.serveListener(ctx, b.conf, b.l)
			}
			if err != nil {
				errc <- err
			}
		}(b)
	}
	srv.log.Info("parley is serving", "domains", srv.domainList(), "max_sessions", srv.conns.cap,
		"open_file_limit", srv.fdLimit, "storage", srv.cfg.Storage.Backend)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	srv.closeListeners()
	wg.Wait()
	srv.shutdown()
	return runErr
}

func (srv *Server) domainList() []string {
	out := make([]string, 0, len(srv.cfg.Hosts))
	for _, h := range srv.cfg.Hosts {
		out = append(out, h.Domain)
	}
	return out
}

// shutdown closes every session's stream, waits briefly for the writers,
// stops modules and closes the store.
func (srv *Server) shutdown() {
	srv.router.all(func(s *session) {
		s.close(xmpp.NewStreamError(xmpp.StreamSystemShutdown, "the server is shutting down"))
	})
	done := make(chan struct{})
	go func() { srv.live.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		srv.log.Warn("some connections did not close in time")
	}
	srv.cancel()
	srv.bg.Wait()
	srv.stopModules(context.Background())
	if err := srv.store.Close(); err != nil {
		srv.log.Error("closing the store", "err", err)
	}
	srv.log.Info("parley stopped")
}

// serveListener accepts connections on l until ctx ends.
func (srv *Server) serveListener(ctx context.Context, lc conf.Listener, l net.Listener) error {
	if lc.Type == "websocket" {
		var trusted []netip.Prefix
		for _, p := range lc.TrustedProxies {
			if pr, err := netip.ParsePrefix(p); err == nil {
				trusted = append(trusted, pr)
			}
		}
		if lc.TLS {
			l = tls.NewListener(l, srv.certs.config("", nil))
		}
		return serveHTTP(ctx, l, srv.webSocketHandler(lc, trusted))
	}
	go func() { <-ctx.Done(); _ = l.Close() }()
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors or a transient error: back off
			// instead of spinning (DESIGN §9).
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				srv.metrics.emfile.Inc()
			}
			srv.log.Warn("accept failed; backing off", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !srv.conns.acquire() {
			srv.metrics.refused.Inc()
			go refuseFull(c)
			continue
		}
		remote := addrOf(c.RemoteAddr())
		if lc.Type == "xmpps" {
			go srv.serveDirectTLS(c, remote)
			continue
		}
		requireTLS := lc.RequireTLS == nil || *lc.RequireTLS
		go srv.serveStream(c, remote, nil, false, requireTLS)
	}
}

// serveDirectTLS handshakes (XEP-0368: ALPN xmpp-client, SNI) then
// negotiates the stream as already secure.
func (srv *Server) serveDirectTLS(c net.Conn, remote netip.Addr) {
	tc := tls.Server(c, srv.certs.config("", []string{alpnClient}))
	ctx, cancel := context.WithTimeout(srv.ctx, srv.limits.NegotiationTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		srv.log.Debug("direct tls handshake failed", "remote", remote.String(), "err", err)
		_ = c.Close()
		srv.conns.release()
		return
	}
	srv.metrics.tlsHandshakes.WithLabelValues(tlsName(tc.ConnectionState())).Inc()
	srv.serveStream(tc, remote, nil, true, true)
}

// serveStream negotiates a connection whose slot in the session cap is
// already taken, and releases the slot when the connection ends.
func (srv *Server) serveStream(c net.Conn, remote netip.Addr, ws *wsConn, secure, requireTLS bool) {
	srv.live.Add(1)
	s := &session{
		srv: srv, conn: c, ws: ws, remote: remote, secure: secure,
		nsOut: xmpp.NSClient, done: make(chan struct{}),
		log: srv.log.With("remote", remote.String()),
	}
	if ws != nil {
		s.nsOut = ""
	}
	s.released = func() { // run once, by closeConn
		srv.conns.release()
		srv.live.Done()
	}
	if err := srv.negotiate(srv.ctx, s, requireTLS, secure); err != nil {
		var se *xmpp.StreamError
		if errors.As(err, &se) {
			s.log.Info("negotiation failed", "condition", se.Condition, "text", se.Text)
		} else {
			s.log.Debug("negotiation ended", "err", err)
		}
		s.closeConn()
	}
}

// refuseFull answers a connection above the session cap with a stream
// error and closes it, without reading from it.
func refuseFull(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	b := []byte(`<?xml version='1.0'?><stream:stream xmlns="jabber:client" xmlns:stream="` + xmpp.NSStream + `" version="1.0">`)
	b = xmpp.NewStreamError(xmpp.StreamResourceConstraint, "the server is full").AppendXML(b, "stream")
	_, _ = c.Write(append(b, "</stream:stream>"...))
	_ = c.Close()
}

// authRate maps a configured bucket to auth's, where a zero Burst is off.
func authRate(r conf.Rate) auth.Rate {
	if r.Rate <= 0 {
		return auth.Rate{}
	}
	return auth.Rate{PerSecond: r.Rate, Burst: r.Burst}
}
