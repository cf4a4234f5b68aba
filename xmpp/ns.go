package xmpp

// Namespaces used across packages. A namespace owned by one module is declared
// in that module's package as NS.
const (
	NSClient    = "jabber:client"
	NSServer    = "jabber:server"
	NSStream    = "http://etherx.jabber.org/streams"
	NSFraming   = "urn:ietf:params:xml:ns:xmpp-framing" // RFC 7395 WebSocket framing
	NSTLS       = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL      = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind      = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession   = "urn:ietf:params:xml:ns:xmpp-session"
	NSStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSStreams   = "urn:ietf:params:xml:ns:xmpp-streams"
	NSXML       = "http://www.w3.org/XML/1998/namespace"
	NSDelay     = "urn:xmpp:delay"              // XEP-0203
	NSRoster    = "jabber:iq:roster"            // RFC 6121
	NSRosterVer = "urn:xmpp:features:rosterver" // XEP-0237 stream feature
)
