package xmlscan

import (
	"errors"

	"github.com/parley-im/parley/xmpp"
)

// errShort means the bytes at hand end before the construct being scanned
// does: read more and try again. It never leaves the package.
var errShort = errors.New("xmlscan: short buffer")

// scanError is an internal stream error: a condition and a short text. Next
// and ReadHeader turn it into a fresh *xmpp.StreamError, so callers may keep
// or change what they get.
type scanError struct {
	cond xmpp.StreamCondition
	text string
}

func (e *scanError) Error() string { return "xmlscan: " + string(e.cond) + ": " + e.text }

func nwf(text string) *scanError { return &scanError{xmpp.StreamNotWellFormed, text} }

func restricted(text string) *scanError { return &scanError{xmpp.StreamRestrictedXML, text} }

func policy(text string) *scanError { return &scanError{xmpp.StreamPolicyViolation, text} }

// The errors the scanner finds, one value each so the hot path allocates
// nothing on the way out.
var (
	errBadUTF8          = &scanError{xmpp.StreamUnsupportedEncoding, "invalid UTF-8"}
	errBadChar          = nwf("character outside the XML Char production")
	errBadCharRef       = nwf("character reference to a character outside the XML Char production")
	errBadRef           = nwf("malformed entity or character reference")
	errRestrictedEntity = restricted("entity reference other than the predefined ones")
	errBadName          = nwf("malformed name")
	errComment          = restricted("comment")
	errPI               = restricted("processing instruction")
	errDTD              = restricted("document type declaration")
	errCDATAEnd         = nwf("']]>' in character data")
	errLtInAttr         = nwf("'<' in an attribute value")
	errSyntax           = nwf("syntax error in markup")
	errMismatch         = nwf("end tag does not match start tag")
	errDupAttr          = nwf("duplicate attribute")
	errAttrSpace        = nwf("attributes not separated by white space")
	errReserved         = nwf("reserved namespace prefix or name misused")
	errEmptyPrefixDecl  = nwf("empty namespace name bound to a prefix")
	errSpaceInNS        = nwf("white space other than ' ' in a namespace name")
	errUndeclared       = &scanError{xmpp.StreamBadNamespacePrefix, "undeclared namespace prefix"}
	errTopText          = nwf("character data at stream level")
	errTooBig           = policy("top-level element larger than the limit")
	errTooDeep          = policy("elements nested deeper than the limit")
	errTooManyAttrs     = policy("more attributes on one element than the limit")
	errTooManyElems     = policy("more elements in one top-level element than the limit")
	errTooManyNS        = policy("too many namespace declarations in scope")
	errFraming          = nwf("unterminated markup")
)

// streamError converts an internal error into the error the API returns.
func streamError(err error) error {
	var se *scanError
	if errors.As(err, &se) {
		return xmpp.NewStreamError(se.cond, se.text)
	}
	return err
}
