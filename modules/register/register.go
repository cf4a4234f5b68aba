// Package register implements XEP-0077: In-Band Registration (version 2.4).
//
// Before authentication, a client may create an account on a domain whose
// host setting `registration` is true; the stream then advertises the
// iq-register feature. After authentication, on every domain, a user may
// read their registration, change their password, or remove their account
// (which ends all of its sessions with a not-authorized stream error, as
// XEP-0077 §3.2 says). Data forms (XEP-0004) are not offered.
package register

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/text/secure/precis"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// Namespaces of XEP-0077.
const (
	NS        = "jabber:iq:register"
	NSFeature = "http://jabber.org/features/iq-register"
)

func init() { modules.Register(new(Module)) }

// Module handles jabber:iq:register before and after authentication.
type Module struct {
	h     modules.Host
	log   *slog.Logger
	cfg   Config
	limit *limiter // nil: no per-address cap
}

// Info implements modules.Module.
func (*Module) Info() modules.Info {
	return modules.Info{
		ID:       "register",
		XEPs:     []int{77},
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
	if m.cfg.MaxPerAddress > 0 {
		m.limit = newLimiter(m.cfg.MaxPerAddress, m.cfg.Window)
	}
	h.HandlePreAuthIQ(NS, m.preAuth)
	h.HandleIQ(NS, m.handle)
	return nil
}

// StreamFeatures implements modules.StreamFeaturer: registration is
// advertised before authentication, on domains where it is open.
func (m *Module) StreamFeatures(dst []byte, domain string, authenticated bool) []byte {
	if authenticated || !m.h.Registration(domain) {
		return dst
	}
	return append(dst, `<register xmlns="`+NSFeature+`"/>`...)
}

// query is a jabber:iq:register <query/> as far as this server reads it.
type query struct {
	Username *string   `xml:"jabber:iq:register username"`
	Password *string   `xml:"jabber:iq:register password"`
	Remove   *struct{} `xml:"jabber:iq:register remove"`
	Other    []struct {
		XMLName xml.Name
	} `xml:",any"`
}

func parseQuery(st *xmpp.Stanza) (query, error) {
	var q query
	if st.Payload.Local != "query" {
		return q, xmpp.NewStanzaError(xmpp.BadRequest, "expected a <query/> element")
	}
	if err := st.UnmarshalPayload(&q); err != nil {
		return q, xmpp.NewStanzaError(xmpp.BadRequest, "malformed query")
	}
	return q, nil
}

func text(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// preAuth handles registration before authentication; st.To is the
// stream's domain.
func (m *Module) preAuth(ctx context.Context, st *xmpp.Stanza) ([]byte, error) {
	domain := st.To.Domain()
	q, err := parseQuery(st)
	if err != nil {
		return nil, err
	}
	open := m.h.Registration(domain)
	if st.Type == "get" {
		if !open {
			// XEP-0077 §3.1: a host without in-band registration.
			return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "in-band registration is closed on "+domain)
		}
		dst := append([]byte(nil), `<query xmlns="`+NS+`"><instructions>`...)
		dst = xmpp.AppendEscaped(dst, m.cfg.Instructions, false)
		return append(dst, "</instructions><username/><password/></query>"...), nil
	}
	switch {
	case !open:
		return nil, xmpp.NewStanzaError(xmpp.NotAllowed, "in-band registration is closed on "+domain)
	case q.Remove != nil:
		// XEP-0077 §3.2: nothing to remove for an unauthenticated entity.
		return nil, xmpp.NewStanzaError(xmpp.UnexpectedRequest, "authenticate to remove an account")
	case text(q.Username) == "" || text(q.Password) == "":
		return nil, xmpp.NewStanzaError(xmpp.NotAcceptable, "a username and a password are required")
	}
	user, err := xmpp.NewJID(text(q.Username), domain, "")
	if err != nil || user.Local() == "" || user.Domain() != domain || !user.IsBare() {
		return nil, xmpp.NewStanzaError(xmpp.NotAcceptable, "the username is not a valid JID localpart")
	}
	if _, err := precis.OpaqueString.String(text(q.Password)); err != nil {
		return nil, xmpp.NewStanzaError(xmpp.NotAcceptable, "the password contains characters that are not allowed")
	}
	release := func() {}
	addr, known := modules.RemoteAddr(ctx)
	if known && m.limit != nil {
		var ok bool
		if release, ok = m.limit.reserve(addr); !ok {
			return nil, xmpp.NewStanzaError(xmpp.ResourceConstraint, "too many accounts registered from this address; try again later")
		}
	}
	if err := m.h.Accounts().Create(ctx, user, text(q.Password)); err != nil {
		release()
		if errors.Is(err, modules.ErrAccountExists) {
			return nil, xmpp.NewStanzaError(xmpp.Conflict, "the username is taken")
		}
		return nil, fmt.Errorf("register: create %s: %w", user, err)
	}
	if known {
		m.log.Info("account registered", "user", user, "remote", addr)
	} else {
		m.log.Info("account registered", "user", user)
	}
	return nil, nil
}

// handle serves an authenticated user: registration info, password
// change and account removal, on the user's own behalf only.
func (m *Module) handle(ctx context.Context, st *xmpp.Stanza) ([]byte, error) {
	if st.To.Local() != "" && st.To.Bare() != st.From.Bare() {
		// Another user's account: no one registers on its behalf.
		return nil, xmpp.NewStanzaError(xmpp.ServiceUnavailable, "")
	}
	user := st.From.Bare()
	q, err := parseQuery(st)
	if err != nil {
		return nil, err
	}
	if st.Type == "get" {
		// XEP-0077 §3.1: an authenticated entity is registered.
		dst := append([]byte(nil), `<query xmlns="`+NS+`"><registered/><username>`...)
		dst = xmpp.AppendEscaped(dst, user.Local(), false)
		return append(dst, "</username><password/></query>"...), nil
	}
	if q.Remove != nil {
		if q.Username != nil || q.Password != nil || len(q.Other) > 0 {
			return nil, m.replyError(ctx, st, xmpp.NewStanzaError(xmpp.BadRequest, "<remove/> must be the only child of <query/>"))
		}
		return nil, m.remove(ctx, st, user)
	}
	// Password change (XEP-0077 §3.3). Errors to a set are sent without
	// the request, which may hold a password in clear (§3.3: SHOULD NOT
	// return the original XML).
	if text(q.Username) == "" {
		return nil, m.replyError(ctx, st, xmpp.NewStanzaError(xmpp.BadRequest, "the username is required"))
	}
	if owner, ok := usernameOf(text(q.Username), user.Domain()); !ok || owner != user {
		return nil, m.replyError(ctx, st, xmpp.NewStanzaError(xmpp.NotAllowed, "only your own password can be changed"))
	}
	pw := text(q.Password)
	if pw == "" {
		// §3.3: an empty password never replaces the current one.
		return nil, m.replyError(ctx, st, xmpp.NewStanzaError(xmpp.BadRequest, "the new password is empty"))
	}
	if _, err := precis.OpaqueString.String(pw); err != nil {
		return nil, m.replyError(ctx, st, xmpp.NewStanzaError(xmpp.NotAcceptable, "the password contains characters that are not allowed"))
	}
	if err := m.h.Accounts().SetPassword(ctx, user, pw); err != nil {
		m.log.Error("password change failed", "user", user, "err", err)
		return nil, m.replyError(ctx, st, xmpp.NewStanzaError(xmpp.InternalServerError, ""))
	}
	m.log.Info("password changed", "user", user)
	return nil, nil
}

// usernameOf reads the <username/> of a password change: a localpart, or
// (as some clients send it) the bare JID.
func usernameOf(s, domain string) (xmpp.JID, bool) {
	var j xmpp.JID
	var err error
	if strings.Contains(s, "@") {
		j, err = xmpp.ParseJID(s)
	} else {
		j, err = xmpp.NewJID(s, domain, "")
	}
	return j, err == nil && j.Local() != "" && j.IsBare()
}

// remove deletes the account, answers the request, then ends every session
// of the account with a not-authorized stream error (XEP-0077 §3.2). The
// reply goes out before the sessions close, hence ErrNoReply.
func (m *Module) remove(ctx context.Context, st *xmpp.Stanza, user xmpp.JID) error {
	if err := m.h.Accounts().Delete(ctx, user); err != nil {
		return fmt.Errorf("register: remove %s: %w", user, err)
	}
	m.log.Info("account removed", "user", user)
	m.reply(ctx, st, "result", nil)
	for _, s := range m.h.Sessions().Resources(user) {
		s.Close(xmpp.StreamNotAuthorized, "account removed")
	}
	return modules.ErrNoReply
}

// replyError answers st with e and nothing of the request, and returns
// ErrNoReply for the handler to return.
func (m *Module) replyError(ctx context.Context, st *xmpp.Stanza, e *xmpp.StanzaError) error {
	m.reply(ctx, st, "error", e.AppendXML(nil))
	return modules.ErrNoReply
}

// reply routes an IQ reply to st's sender. A request without 'to' was
// handled on behalf of the account, so the reply is from its bare JID
// (RFC 6120 §8.1.2.1).
func (m *Module) reply(ctx context.Context, st *xmpp.Stanza, typ string, inner []byte) {
	from := st.To
	if from.IsZero() {
		from = st.From.Bare()
	}
	r := &xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, ID: st.ID, Type: typ, From: from, To: st.From, Inner: inner}
	if err := m.h.Route(ctx, r); err != nil {
		m.log.Error("reply not routed", "to", st.From, "err", err)
	}
}

var (
	_ modules.Module         = (*Module)(nil)
	_ modules.StreamFeaturer = (*Module)(nil)
)
