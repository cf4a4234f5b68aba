package xmlscan

//go:generate go run gen_names.go

import (
	"unicode"
	"unicode/utf8"
)

// Byte classes for the hot loops. One table lookup per byte decides whether
// the byte needs a closer look.
const (
	cPlain   = iota // copied through
	cSpecial        // markup or a character that ends the current run
	cCtrl           // a C0 control character outside the XML Char production
	cHigh           // first or continuation byte of a multi-byte UTF-8 sequence
)

var (
	textClass [256]uint8 // character data
	attrClass [256]uint8 // attribute values (both quote characters are special)
	nameStart [256]bool  // ASCII NameStartChar without ':'
	nameChar  [256]bool  // ASCII NameChar without ':'
)

func init() {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 0x80:
			textClass[c], attrClass[c] = cHigh, cHigh
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			textClass[c], attrClass[c] = cCtrl, cCtrl
		}
		isStart := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		nameStart[c] = isStart
		nameChar[c] = isStart || c >= '0' && c <= '9' || c == '-' || c == '.'
	}
	for _, c := range []byte("<&]") {
		textClass[c] = cSpecial
	}
	for _, c := range []byte("<&\"'\t\n\r") {
		attrClass[c] = cSpecial
	}
}

// isChar reports whether r is in the XML 1.0 Char production.
func isChar(r rune) bool {
	switch {
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	}
	return r >= 0x10000 && r <= utf8.MaxRune
}

// isSpace reports whether c is XML white space (production [3]).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// decodeChar decodes the multi-byte character at b[0]. It returns
// errShort when b ends inside the sequence, errBadUTF8 for bytes that are
// not UTF-8 and errBadChar for a character outside the Char production.
func decodeChar(b []byte) (rune, int, error) {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		if !utf8.FullRune(b) {
			return 0, 0, errShort
		}
		return 0, 0, errBadUTF8
	}
	if !isChar(r) {
		return 0, 0, errBadChar
	}
	return r, n, nil
}

// scanNCName returns the length of the NCName (a name without ':') at the
// start of b; 0 if b does not start with one. It reports errShort when the
// name runs to the end of b, since more name characters may follow.
func scanNCName(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errShort
	}
	i := 0
	if c := b[0]; c < utf8.RuneSelf {
		if !nameStart[c] {
			return 0, nil
		}
		i = 1
		for i < len(b) && nameChar[b[i]] {
			i++
		}
	}
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if i == 0 && !nameStart[c] || i > 0 && !nameChar[c] {
				return i, nil
			}
			i++
			continue
		}
		r, n, err := decodeChar(b[i:])
		if err != nil {
			return 0, err
		}
		table := nameCharTable
		if i == 0 {
			table = nameStartTable
		}
		if !unicode.Is(table, r) {
			if i == 0 {
				return 0, nil
			}
			return 0, errBadName
		}
		i += n
	}
	return 0, errShort
}

// scanQName scans a qualified name (production [7] of Namespaces in XML) at
// the start of b and returns its length and the length of its prefix
// (0 when unprefixed).
func scanQName(b []byte) (n, plen int, err error) {
	n, err = scanNCName(b)
	if err != nil || n == 0 {
		return n, 0, err
	}
	if n == len(b) {
		return 0, 0, errShort
	}
	if b[n] != ':' {
		return n, 0, nil
	}
	m, err := scanNCName(b[n+1:])
	if err != nil {
		return 0, 0, err
	}
	if m == 0 {
		return 0, 0, errBadName
	}
	if n+1+m < len(b) && b[n+1+m] == ':' {
		return 0, 0, errBadName
	}
	return n + 1 + m, n, nil
}

// predefined maps the five predefined entities to their replacement text.
func predefined(name []byte) (byte, bool) {
	switch string(name) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	return 0, false
}

// scanRef validates the reference at b[0] == '&' and returns its length and
// the character it stands for.
func scanRef(b []byte) (n int, r rune, err error) {
	if len(b) < 2 {
		return 0, 0, errShort
	}
	if b[1] != '#' {
		m, err := scanNCName(b[1:])
		if err != nil {
			return 0, 0, err
		}
		if m == 0 {
			return 0, 0, errBadRef
		}
		if 1+m == len(b) {
			return 0, 0, errShort
		}
		if b[1+m] != ';' {
			if b[1+m] == ':' {
				return 0, 0, errRestrictedEntity // a qualified entity name is still an entity
			}
			return 0, 0, errBadRef
		}
		c, ok := predefined(b[1 : 1+m])
		if !ok {
			return 0, 0, errRestrictedEntity
		}
		return m + 2, rune(c), nil
	}
	i, base := 2, rune(10)
	if i < len(b) && b[i] == 'x' {
		i, base = 3, 16
	}
	start := i
	for ; i < len(b); i++ {
		c := b[i]
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		case c == ';':
			if i == start || !isChar(r) {
				return 0, 0, errBadCharRef
			}
			return i + 1, r, nil
		default:
			return 0, 0, errBadRef
		}
		if r <= utf8.MaxRune {
			r = r*base + d
		}
	}
	return 0, 0, errShort
}
