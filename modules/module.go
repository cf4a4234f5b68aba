// Package modules defines how in-process features plug into Parley: the
// Module interface, the Host a module is lent, the stanza chain, and the
// registry modules join from init.
//
// A module is one feature, usually one XEP, in its own package under
// modules/<id>/. Its lifecycle:
//
//  1. init calls Register with a zero value; Info().New returns a fresh one;
//  2. Provision is called once, before any listener accepts, with a Host
//     scoped to the module: it reads its configuration, registers its IQ
//     handlers and its place in the chain;
//  3. handlers run on the sending session's reader goroutine and must not
//     block on the network or on another session; slow work goes through
//     Host.Go;
//  4. if the module implements Stopper, Stop runs in reverse provision order
//     at shutdown.
//
// Optional interfaces (SessionObserver, AccountObserver, StreamFeaturer)
// are found by type assertion once, at provision time.
package modules

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/netip"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// Module is an in-process feature.
type Module interface {
	Info() Info
	Provision(ctx context.Context, h Host) error
}

// Info describes a module.
type Info struct {
	// ID is the package name, the configuration key, the log attribute
	// module=<ID> and the metrics subsystem.
	ID string

	// XEPs lists the specifications the module implements, by number.
	XEPs []int

	// Features are disco#info features advertised on the server's domain.
	Features []string

	// AccountFeatures are disco#info features advertised on each user's
	// bare JID (XEP-0030 §3.1 account queries), e.g. PEP's.
	AccountFeatures []string

	// Identities are disco#info identities added to the server's, e.g.
	// {Category: "pubsub", Type: "pep"} on the account.
	Identities        []Identity
	AccountIdentities []Identity

	// New returns a new, unprovisioned instance.
	New func() Module
}

// Identity is a disco#info identity.
type Identity struct {
	Category, Type, Name string
}

// Stopper is implemented by modules that hold resources to release.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Host is everything the server lends a module. Methods are safe for
// concurrent use unless they say otherwise.
type Host interface {
	// Config decodes the module's configuration block into v strictly:
	// unknown keys and bad values are errors naming file, line and key.
	// With no block, v is left as it was (holding the defaults).
	Config(v any) error

	// Logger is the server's logger with module=<ID>.
	Logger() *slog.Logger

	// Storage is the server's backend. Keys a module writes start with its
	// ID and a slash, so key spaces never overlap.
	Storage() storage.Backend

	// Domains reports the local domains and whether one is local.
	IsLocal(domain string) bool
	Domains() []string

	// Registration reports whether in-band registration is open on domain.
	Registration(domain string) bool

	// Route sends st as if it had been received from st.From (a local
	// user, or a server domain for server-originated stanzas), through the
	// normal routing rules and the Deliver and Unrouted stages. The stanza
	// is encoded before Route returns; the caller keeps ownership of st.
	Route(ctx context.Context, st *xmpp.Stanza) error

	// Deliver hands st straight to one bound session, skipping the bare-JID
	// rules (for presence broadcast, roster pushes, carbons). It reports
	// false if no such session is bound. The caller keeps ownership.
	Deliver(ctx context.Context, to xmpp.JID, st *xmpp.Stanza) bool

	// SendIQ sends a server-originated IQ get or set (From a local domain
	// or user, To anyone) and waits for its result or error, or for ctx to
	// end. It must not be called on a session goroutine with a long
	// deadline: use it from Host.Go work.
	SendIQ(ctx context.Context, iq *xmpp.Stanza) (*xmpp.Stanza, error)

	// HandleIQ makes h the owner of IQ requests whose payload is in ns and
	// that are addressed to the server: to a local domain, to the
	// sender's own account, to no one, or to another local user's bare
	// JID. The handler tells these apart by st.To. Registering a namespace
	// twice is an error at provision time.
	HandleIQ(ns string, h IQHandler)

	// HandlePreAuthIQ makes h the owner of IQs in ns that arrive before
	// authentication (in-band registration). st.From is zero; st.To is
	// the stream's domain.
	HandlePreAuthIQ(ns string, h IQHandler)

	// Use places mw in the stanza chain at stage. The chain is compiled
	// once, after every module is provisioned, in the order of modules/order.go.
	Use(at Stage, mw Middleware)

	// Sessions looks up bound sessions.
	Sessions() Sessions

	// Accounts creates, changes and deletes user accounts.
	Accounts() Accounts

	// Modules lists the enabled modules (for disco).
	Modules() []Info

	// Go runs f in a goroutine the server waits for at shutdown; ctx is
	// cancelled when the server stops.
	Go(name string, f func(ctx context.Context))
}

// Stage is a place in the stanza chain.
type Stage uint8

// Stages, in the order a stanza meets them.
const (
	// Inbound sees every stanza a client sends, after 'from' is stamped
	// and before routing. A middleware that consumes the stanza (answers
	// it, handles presence, ...) returns without calling next.
	//
	// One exception keeps modules decoupled: the presence module, after it
	// has processed a broadcast presence (no 'to') and updated the
	// session's availability, passes it on, so that later modules can react
	// to a session becoming available (offline replay, PEP last items).
	// Those modules must not route it; the end of the chain ignores a
	// presence without 'to'.
	Inbound Stage = iota + 1

	// Deliver sees a stanza once per local recipient session, before it is
	// queued for writing; Target(ctx) names the recipient. Dropping
	// it (not calling next) means that session does not get it.
	Deliver

	// Unrouted sees messages whose recipient is a local account with no
	// session that may receive them (offline storage). The end of the
	// chain bounces the stanza with service-unavailable.
	Unrouted
)

// Handler handles one stanza. Returning a *xmpp.StanzaError asks the server
// to answer the stanza with that error (never for errors or IQ results);
// any other error is logged and answered with internal-server-error.
type Handler interface {
	HandleStanza(ctx context.Context, st *xmpp.Stanza) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, st *xmpp.Stanza) error

// HandleStanza calls f.
func (f HandlerFunc) HandleStanza(ctx context.Context, st *xmpp.Stanza) error { return f(ctx, st) }

// Middleware wraps the rest of a stage's chain.
type Middleware func(next Handler) Handler

// IQHandler answers an IQ request. It returns the content of the result
// (nil for an empty result) or an error; the server builds the reply
// stanza. A handler that must answer later (after a round trip to another
// entity) returns ErrNoReply and calls Host.Route with the reply itself.
type IQHandler func(ctx context.Context, iq *xmpp.Stanza) (result []byte, err error)

// ErrNoReply tells the server an IQHandler will send the reply itself.
var ErrNoReply = noReply{}

type noReply struct{}

func (noReply) Error() string { return "modules: reply sent by the handler" }

// Session is a bound client session as modules see it.
type Session interface {
	// JID is the full JID the session is bound to.
	JID() xmpp.JID
	// Available reports whether the session has sent initial presence and
	// not become unavailable; Priority is its presence priority.
	Available() bool
	Priority() int8
	// Presence is the last available presence broadcast by the session
	// (nil if none). Callers must not modify it.
	Presence() *xmpp.Stanza
	// Interested reports whether the session has requested the roster
	// (an "interested resource", RFC 6121 §2.1.6).
	Interested() bool
	// SetAvailable records the session's broadcast presence (nil for
	// unavailable). Called by the presence module.
	SetAvailable(p *xmpp.Stanza)
	// SetInterested marks the session as an interested resource.
	SetInterested()
	// Close ends the session with a stream error (conflict when kicked,
	// not-authorized when its account is removed, ...).
	Close(cond xmpp.StreamCondition, text string)
	// Value and SetValue keep a per-session, per-key value for modules
	// (e.g. entity caps); keys are module IDs.
	Value(key string) any
	SetValue(key string, v any)
}

// Sessions is the server's table of bound sessions.
type Sessions interface {
	// Resources returns the sessions bound to bare (a copy).
	Resources(bare xmpp.JID) []Session
	// Session returns the session bound to full, or nil.
	Session(full xmpp.JID) Session
}

// Accounts manages user accounts. Passwords are normalised (PRECIS
// OpaqueString) before use; only SCRAM verifiers are stored.
type Accounts interface {
	Create(ctx context.Context, user xmpp.JID, password string) error // ErrAccountExists
	SetPassword(ctx context.Context, user xmpp.JID, password string) error
	Delete(ctx context.Context, user xmpp.JID) error
	Exists(ctx context.Context, user xmpp.JID) (bool, error)
}

// SessionObserver is implemented by modules that follow sessions.
// Both methods run on the session's own goroutine.
type SessionObserver interface {
	// SessionBound runs once a resource is bound, before the session
	// receives anything.
	SessionBound(ctx context.Context, s Session)
	// SessionClosed runs once the session has ended, for whatever reason.
	SessionClosed(ctx context.Context, s Session)
}

// AccountObserver is implemented by modules that keep per-account data,
// to remove it when the account is deleted.
type AccountObserver interface {
	AccountDeleted(ctx context.Context, user xmpp.JID) error
}

// StreamFeaturer is implemented by modules that advertise stream features
// (roster versioning, in-band registration). StreamFeatures appends the
// feature elements for a stream to domain, before (authenticated false) or
// after authentication.
type StreamFeaturer interface {
	StreamFeatures(dst []byte, domain string, authenticated bool) []byte
}

type targetKey struct{}

// WithTarget returns ctx carrying the recipient session of a Deliver stage.
func WithTarget(ctx context.Context, s Session) context.Context {
	return context.WithValue(ctx, targetKey{}, s)
}

// Target returns the recipient session in a Deliver stage, or nil.
func Target(ctx context.Context) Session {
	s, _ := ctx.Value(targetKey{}).(Session)
	return s
}

type remoteAddrKey struct{}

// WithRemoteAddr returns ctx carrying the network address of the client a
// stanza came from. The server sets it on pre-authentication IQs, so that
// in-band registration can be limited per address.
func WithRemoteAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

// RemoteAddr returns the client address ctx carries, and whether it
// carries a valid one.
func RemoteAddr(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(remoteAddrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// PayloadIs reports whether st's first child element is {ns}local.
func PayloadIs(st *xmpp.Stanza, ns, local string) bool {
	return st.Payload == xml.Name{Space: ns, Local: local}
}
