package xmpp

import (
	"errors"
	"strings"

	"mellium.im/xmpp/jid"
)

// JID is a normalised XMPP address (RFC 7622). The zero value is the empty
// address. JIDs compare with ==: two JIDs are equal exactly when their
// normalised forms are.
//
// Parsing takes a fast path for the common all-ASCII address, whose PRECIS
// normalisation is a plain lower-casing of localpart and domainpart, and falls
// back to mellium.im/xmpp/jid (full PRECIS) for anything else, so both paths
// give identical results.
type JID struct {
	s      string // local@domain/resource, normalised
	ll, dl int    // lengths of the localpart and domainpart
}

// Errors returned by ParseJID.
var (
	ErrJIDEmpty    = errors.New("xmpp: empty jid")
	ErrJIDInvalid  = errors.New("xmpp: invalid jid")
	ErrJIDTooLong  = errors.New("xmpp: jid part longer than 1023 bytes")
	errNeedsPRECIS = errors.New("needs precis")
)

// ParseJID parses and normalises s.
func ParseJID(s string) (JID, error) {
	if s == "" {
		return JID{}, ErrJIDEmpty
	}
	if j, err := parseASCII(s); err == nil {
		return j, nil
	} else if err != errNeedsPRECIS {
		return JID{}, err
	}
	m, err := jid.Parse(s)
	if err != nil {
		return JID{}, errors.Join(ErrJIDInvalid, err)
	}
	return NewJID(m.Localpart(), m.Domainpart(), m.Resourcepart())
}

// MustParseJID is ParseJID for constants in tests and tables; it panics on error.
func MustParseJID(s string) JID {
	j, err := ParseJID(s)
	if err != nil {
		panic(err)
	}
	return j
}

// NewJID joins already-separated parts, normalising them.
func NewJID(local, domain, resource string) (JID, error) {
	if local == "" && resource == "" {
		return ParseJID(domain)
	}
	var b strings.Builder
	b.Grow(len(local) + len(domain) + len(resource) + 2)
	if local != "" {
		b.WriteString(local)
		b.WriteByte('@')
	}
	b.WriteString(domain)
	if resource != "" {
		b.WriteByte('/')
		b.WriteString(resource)
	}
	j, err := parseASCII(b.String())
	if err == nil {
		return j, nil
	}
	if err != errNeedsPRECIS {
		return JID{}, err
	}
	m, err := jid.New(local, domain, resource)
	if err != nil {
		return JID{}, errors.Join(ErrJIDInvalid, err)
	}
	l, d, r := m.Localpart(), m.Domainpart(), m.Resourcepart()
	s := d
	if l != "" {
		s = l + "@" + d
	}
	if r != "" {
		s += "/" + r
	}
	return JID{s: s, ll: len(l), dl: len(d)}, nil
}

// parseASCII handles addresses made only of characters whose PRECIS
// normalisation is known without tables. It returns errNeedsPRECIS when the
// address needs the full treatment.
func parseASCII(s string) (JID, error) {
	// RFC 7622 §3.1: the resourcepart starts at the first '/', the localpart
	// ends at the first '@' before it.
	slash := strings.IndexByte(s, '/')
	head, res := s, ""
	if slash >= 0 {
		head, res = s[:slash], s[slash+1:]
		if res == "" {
			return JID{}, ErrJIDInvalid
		}
	}
	at := strings.IndexByte(head, '@')
	local, domain := "", head
	if at >= 0 {
		local, domain = head[:at], head[at+1:]
		if local == "" {
			return JID{}, ErrJIDInvalid
		}
	}
	if domain == "" {
		return JID{}, ErrJIDInvalid
	}
	if len(local) > 1023 || len(domain) > 1023 || len(res) > 1023 {
		return JID{}, ErrJIDTooLong
	}
	lower := false
	for i := 0; i < len(local); i++ {
		switch c := local[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '+':
		case c >= 'A' && c <= 'Z':
			lower = true
		default:
			// Anything else (forbidden characters included) is left to
			// the full PRECIS path, so both paths agree by construction.
			return JID{}, errNeedsPRECIS
		}
	}
	domain = strings.TrimSuffix(domain, ".") // RFC 7622 §3.2: a trailing dot is removed
	if domain == "" {
		return JID{}, ErrJIDInvalid
	}
	for i := 0; i < len(domain); i++ {
		switch c := domain[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-':
		case c >= 'A' && c <= 'Z':
			lower = true
		default:
			return JID{}, errNeedsPRECIS
		}
	}
	for i := 0; i < len(res); i++ {
		if c := res[i]; c < 0x21 || c > 0x7e {
			return JID{}, errNeedsPRECIS
		}
	}
	if lower {
		local, domain = strings.ToLower(local), strings.ToLower(domain)
	}
	n := len(domain)
	if local != "" {
		n += len(local) + 1
	}
	if res != "" {
		n += len(res) + 1
	}
	if !lower && n == len(s) {
		return JID{s: s, ll: len(local), dl: len(domain)}, nil
	}
	var b strings.Builder
	b.Grow(n)
	if local != "" {
		b.WriteString(local)
		b.WriteByte('@')
	}
	b.WriteString(domain)
	if res != "" {
		b.WriteByte('/')
		b.WriteString(res)
	}
	return JID{s: b.String(), ll: len(local), dl: len(domain)}, nil
}

// IsZero reports whether j is the empty address.
func (j JID) IsZero() bool { return j.s == "" }

// String returns the normalised address.
func (j JID) String() string { return j.s }

// Local returns the localpart ("" for a domain JID).
func (j JID) Local() string {
	if j.ll == 0 {
		return ""
	}
	return j.s[:j.ll]
}

// Domain returns the domainpart.
func (j JID) Domain() string { return j.s[j.localEnd() : j.localEnd()+j.dl] }

// Resource returns the resourcepart ("" for a bare JID).
func (j JID) Resource() string {
	end := j.localEnd() + j.dl
	if end >= len(j.s) {
		return ""
	}
	return j.s[end+1:]
}

// Bare returns the address without its resource. It does not allocate.
func (j JID) Bare() JID {
	return JID{s: j.s[:j.localEnd()+j.dl], ll: j.ll, dl: j.dl}
}

// DomainJID returns the address of j's domain.
func (j JID) DomainJID() JID {
	d := j.Domain()
	return JID{s: d, dl: len(d)}
}

// IsBare reports whether j has no resource.
func (j JID) IsBare() bool { return j.localEnd()+j.dl == len(j.s) }

// WithResource returns the full JID bare(j)/res, normalising res.
func (j JID) WithResource(res string) (JID, error) {
	return NewJID(j.Local(), j.Domain(), res)
}

func (j JID) localEnd() int {
	if j.ll == 0 {
		return 0
	}
	return j.ll + 1
}
