package xmpp

import "strings"

// ErrorType is the type attribute of a stanza error (RFC 6120 §8.3.2).
type ErrorType string

// Stanza error types.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a defined stanza error condition (RFC 6120 §8.3.3).
type Condition string

// Stanza error conditions, with the type RFC 6120 suggests for each in
// DefaultType.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// DefaultType is the error type RFC 6120 §8.3.3 gives in its examples.
func (c Condition) DefaultType() ErrorType {
	switch c {
	case BadRequest, JIDMalformed, NotAcceptable, PolicyViolation, Redirect, Gone:
		return Modify
	case Forbidden, NotAuthorized, RegistrationRequired, SubscriptionRequired:
		return Auth
	case InternalServerError, ResourceConstraint, RecipientUnavailable, RemoteServerTimeout, UnexpectedRequest:
		return Wait
	}
	return Cancel
}

// StanzaError is an error a stanza is answered or bounced with. It implements
// error so handlers can return it; the server turns it into an error reply.
type StanzaError struct {
	Type      ErrorType // defaults to Condition.DefaultType()
	Condition Condition
	Text      string // human-readable, English
	By        string // the 'by' attribute, optional

	// App is an application-specific condition element, written verbatim
	// after the text (optional; must be self-contained XML).
	App []byte
}

// NewStanzaError returns a StanzaError of cond with its default type.
func NewStanzaError(cond Condition, text string) *StanzaError {
	return &StanzaError{Type: cond.DefaultType(), Condition: cond, Text: text}
}

func (e *StanzaError) Error() string {
	if e.Text == "" {
		return "stanza error: " + string(e.Condition)
	}
	return "stanza error: " + string(e.Condition) + ": " + e.Text
}

// AppendXML appends the <error/> element.
func (e *StanzaError) AppendXML(dst []byte) []byte {
	typ := e.Type
	if typ == "" {
		typ = e.Condition.DefaultType()
	}
	dst = append(dst, `<error type="`...)
	dst = append(dst, typ...)
	dst = append(dst, '"')
	if e.By != "" {
		dst = appendAttr(dst, "by", e.By)
	}
	dst = append(dst, "><"...)
	dst = append(dst, e.Condition...)
	dst = append(dst, ` xmlns="`+NSStanzas+`"/>`...)
	if e.Text != "" {
		dst = append(dst, `<text xmlns="`+NSStanzas+`" xml:lang="en">`...)
		dst = AppendEscaped(dst, e.Text, false)
		dst = append(dst, "</text>"...)
	}
	dst = append(dst, e.App...)
	return append(dst, "</error>"...)
}

// ErrorReply turns req into the error reply for err in place: addresses
// swapped, type "error", the original content kept (RFC 6120 §8.3.1 allows
// it and clients use it to match) followed by the error element.
// It reports false for stanzas that must never be answered with an error:
// errors themselves and IQ results.
func ErrorReply(req *Stanza, e *StanzaError) bool {
	if req.Type == "error" || (req.Kind == KindIQ && req.Type == "result") {
		return false
	}
	req.From, req.To = req.To, req.From
	req.Type = "error"
	req.Inner = e.AppendXML(req.Inner)
	return true
}

// StreamCondition is a stream error condition (RFC 6120 §4.9.3).
type StreamCondition string

// Stream error conditions.
const (
	StreamBadFormat              StreamCondition = "bad-format"
	StreamBadNamespacePrefix     StreamCondition = "bad-namespace-prefix"
	StreamConflict               StreamCondition = "conflict"
	StreamConnectionTimeout      StreamCondition = "connection-timeout"
	StreamHostGone               StreamCondition = "host-gone"
	StreamHostUnknown            StreamCondition = "host-unknown"
	StreamImproperAddressing     StreamCondition = "improper-addressing"
	StreamInternalServerError    StreamCondition = "internal-server-error"
	StreamInvalidFrom            StreamCondition = "invalid-from"
	StreamInvalidNamespace       StreamCondition = "invalid-namespace"
	StreamInvalidXML             StreamCondition = "invalid-xml"
	StreamNotAuthorized          StreamCondition = "not-authorized"
	StreamNotWellFormed          StreamCondition = "not-well-formed"
	StreamPolicyViolation        StreamCondition = "policy-violation"
	StreamRemoteConnectionFailed StreamCondition = "remote-connection-failed"
	StreamReset                  StreamCondition = "reset"
	StreamResourceConstraint     StreamCondition = "resource-constraint"
	StreamRestrictedXML          StreamCondition = "restricted-xml"
	StreamSeeOtherHost           StreamCondition = "see-other-host"
	StreamSystemShutdown         StreamCondition = "system-shutdown"
	StreamUndefinedCondition     StreamCondition = "undefined-condition"
	StreamUnsupportedEncoding    StreamCondition = "unsupported-encoding"
	StreamUnsupportedFeature     StreamCondition = "unsupported-feature"
	StreamUnsupportedStanzaType  StreamCondition = "unsupported-stanza-type"
	StreamUnsupportedVersion     StreamCondition = "unsupported-version"
)

// StreamError ends a stream. Readers return it for input that breaks the
// stream's rules; the session writes it and closes.
type StreamError struct {
	Condition StreamCondition
	Text      string
}

// NewStreamError returns a *StreamError.
func NewStreamError(cond StreamCondition, text string) *StreamError {
	return &StreamError{Condition: cond, Text: text}
}

func (e *StreamError) Error() string {
	if e.Text == "" {
		return "stream error: " + string(e.Condition)
	}
	return "stream error: " + string(e.Condition) + ": " + e.Text
}

// AppendXML appends the <stream:error/> element; prefix is the stream
// namespace prefix in use ("stream" on TCP streams, "" with RFC 7395
// framing, where the element carries its namespace).
func (e *StreamError) AppendXML(dst []byte, prefix string) []byte {
	if prefix == "" {
		dst = append(dst, `<error xmlns="`+NSStream+`">`...)
	} else {
		dst = append(dst, '<')
		dst = append(dst, prefix...)
		dst = append(dst, ":error>"...)
	}
	dst = append(dst, '<')
	dst = append(dst, e.Condition...)
	dst = append(dst, ` xmlns="`+NSStreams+`"/>`...)
	if e.Text != "" {
		dst = append(dst, `<text xmlns="`+NSStreams+`" xml:lang="en">`...)
		dst = AppendEscaped(dst, e.Text, false)
		dst = append(dst, "</text>"...)
	}
	if prefix == "" {
		return append(dst, "</error>"...)
	}
	return append(dst, "</"+strings.TrimSpace(prefix)+":error>"...)
}
