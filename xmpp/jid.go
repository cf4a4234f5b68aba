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
	// RFC 7622 §3.1: the resourcepart starts at the first '/', the localpart
	// ends at the first '@' before it.
	head, res, hasRes := strings.Cut(s, "/")
	if hasRes && res == "" {
		return JID{}, ErrJIDInvalid
	}
	local, domain, hasLocal := strings.Cut(head, "@")
	if !hasLocal {
		local, domain = "", head
	} else if local == "" {
		return JID{}, ErrJIDInvalid
	}
	if j, err := parseASCII(s, local, domain, res); err != errNeedsPRECIS {
		return j, err
	}
	m, err := jid.Parse(s)
	if err != nil {
		return JID{}, errors.Join(ErrJIDInvalid, err)
	}
	return fromMellium(m)
}

// MustParseJID is ParseJID for constants in tests and tables; it panics on error.
func MustParseJID(s string) JID {
	j, err := ParseJID(s)
	if err != nil {
		panic(err)
	}
	return j
}

// NewJID joins already-separated parts, normalising them. Separator
// characters inside a part are taken literally (and make a localpart or
// domainpart invalid), never as separators.
func NewJID(local, domain, resource string) (JID, error) {
	if j, err := parseASCII("", local, domain, resource); err != errNeedsPRECIS {
		return j, err
	}
	m, err := jid.New(local, domain, resource)
	if err != nil {
		return JID{}, errors.Join(ErrJIDInvalid, err)
	}
	return fromMellium(m)
}

// fromMellium converts a JID normalised by mellium. A domainpart that still
// ends in a dot ("b.." less the one trailing dot RFC 7622 §3.2 strips) has an
// empty label; mellium keeps it, but parsing the result again would strip
// another dot, so such an address is refused to keep parsing idempotent.
func fromMellium(m jid.JID) (JID, error) {
	l, d := m.Localpart(), m.Domainpart()
	if strings.HasSuffix(d, ".") {
		return JID{}, ErrJIDInvalid
	}
	return JID{s: m.String(), ll: len(l), dl: len(d)}, nil
}

// parseASCII normalises the parts of an address made only of characters
// whose PRECIS treatment is known without tables: letters, digits and a
// few punctuation characters in the localpart, LDH labels in the
// domainpart, printable ASCII in the resourcepart. It returns
// errNeedsPRECIS for anything else, so that mellium.im/xmpp/jid decides
// every case this function is not sure of and both paths always agree.
// s is the whole address when the parts were cut from one (it is reused
// when nothing changes), "" otherwise.
func parseASCII(s, local, domain, res string) (JID, error) {
	lower := false
	for i := 0; i < len(local); i++ {
		switch c := local[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '+':
		case c >= 'A' && c <= 'Z':
			lower = true
		default:
			return JID{}, errNeedsPRECIS
		}
	}
	// RFC 7622 §3.2: a trailing dot is removed before anything else.
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return JID{}, ErrJIDInvalid
	}
	// Every label must be a non-empty LDH label that IDNA leaves alone: no
	// hyphen at either end and none in the third and fourth positions
	// (which would make it an A-label such as "xn--", or invalid).
	label := 0
	for i := 0; i <= len(domain); i++ {
		if i == len(domain) || domain[i] == '.' {
			n := i - label
			if n == 0 || domain[label] == '-' || domain[i-1] == '-' || n >= 4 && domain[label+2] == '-' && domain[label+3] == '-' {
				return JID{}, errNeedsPRECIS
			}
			label = i + 1
			continue
		}
		switch c := domain[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
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
	if len(local) > 1023 || len(domain) > 1023 || len(res) > 1023 {
		return JID{}, ErrJIDTooLong
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
		writeLower(&b, local)
		b.WriteByte('@')
	}
	writeLower(&b, domain)
	if res != "" {
		b.WriteByte('/')
		b.WriteString(res)
	}
	return JID{s: b.String(), ll: len(local), dl: len(domain)}, nil
}

// writeLower writes the ASCII string s lower-cased.
func writeLower(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
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
