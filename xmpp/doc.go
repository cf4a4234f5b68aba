// Package xmpp is Parley's wire model: JIDs, the Stanza every transport
// decodes into and encodes from, stanza and stream errors, and the namespace
// constants the rest of the server shares.
//
// It is tier 0: it imports only the standard library and mellium.im/xmpp/jid
// (for PRECIS normalisation of addresses that are not plain ASCII). The XML
// stream scanner that produces Stanzas lives in xmpp/xmlscan.
package xmpp
