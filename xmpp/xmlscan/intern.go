package xmlscan

import "github.com/parley-im/parley/xmpp"

// common holds names, namespaces and attribute values that most stanzas
// carry, so that filling a Stanza does not allocate a string for them. It is
// read-only after init and shared by all scanners.
var common = map[string]string{}

func init() {
	for _, s := range []string{
		// Top-level elements and stanza types.
		"message", "presence", "iq", "chat", "normal", "groupchat", "headline", "error",
		"get", "set", "result", "unavailable", "subscribe", "subscribed", "unsubscribe",
		"unsubscribed", "probe", "enable", "enabled", "resume", "resumed", "failed", "r", "a",
		"auth", "response", "challenge", "success", "abort", "starttls", "proceed", "features",
		"active", "inactive", "open", "close", "stream",
		// Common attribute names.
		"to", "from", "id", "type", "xml:lang", "h", "previd", "max", "mechanism", "by",
		"xmlns:stream",
		// Payload elements.
		"body", "subject", "thread", "query", "bind", "session", "ping", "request", "received",
		"markable", "displayed", "acknowledged", "origin-id", "stanza-id", "composing", "paused",
		"gone", "encrypted", "pubsub", "publish", "c", "x", "delay", "show", "status",
		"priority", "store", "no-store", "no-permanent-store", "hint", "vCard", "time", "sent",
		"forwarded", "item", "items", "header", "payload", "key",
		// Namespaces.
		xmpp.NSClient, xmpp.NSServer, xmpp.NSStream, xmpp.NSFraming, xmpp.NSTLS,
		xmpp.NSSASL, xmpp.NSBind, xmpp.NSSession, xmpp.NSStanzas, xmpp.NSStreams, xmpp.NSXML,
		xmpp.NSDelay, xmpp.NSRoster, "urn:xmpp:sm:3", "urn:xmpp:receipts",
		"urn:xmpp:chat-markers:0", "urn:xmpp:sid:0", "http://jabber.org/protocol/chatstates",
		"urn:xmpp:hints", "eu.siacs.conversations.axolotl", "http://jabber.org/protocol/pubsub",
		"http://jabber.org/protocol/caps", "urn:xmpp:ping", "urn:xmpp:carbons:2",
		"urn:xmpp:mam:2", "urn:xmpp:csi:0", "http://jabber.org/protocol/disco#info",
		"http://jabber.org/protocol/disco#items", "jabber:x:data", "urn:xmpp:forward:0",
		"urn:xmpp:omemo:2", "urn:xmpp:eme:0", "jabber:iq:version", "urn:xmpp:time",
		"vcard-temp", "urn:xmpp:push:0", "urn:xmpp:blocking", "jabber:iq:private",
		// Languages.
		"en", "de", "fr", "es", "it", "ru", "nl", "pt", "pl", "zh", "ja",
	} {
		common[s] = s
	}
}

// ringSize is the number of addresses a scanner remembers: enough for the
// handful of peers one client talks to, small enough to cost nothing per
// session.
const ringSize = 8

// internSlots is the size of a scanner's string cache (a power of two).
const internSlots = 32

// interner turns byte slices into strings, reusing earlier strings for equal
// bytes: a small direct-mapped cache in front of the common table. Only
// short strings are remembered; a hostile peer that sends endless new names
// costs an allocation each, nothing more.
type interner struct {
	slots [internSlots]string
}

func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := (uint(len(b))*31 + uint(b[0])*7 + uint(b[len(b)-1])) & (internSlots - 1)
	if s := in.slots[h]; s == string(b) {
		return s
	}
	s, ok := common[string(b)]
	if !ok {
		s = string(b)
		if len(s) > 64 {
			return s
		}
	}
	in.slots[h] = s
	return s
}

// jidCache remembers the last addresses parsed from to and from attributes:
// a client talks to a few peers, so most stanzas hit.
type jidCache struct {
	raw  [ringSize]string
	jid  [ringSize]xmpp.JID
	next int
}

func (c *jidCache) parse(b []byte) (xmpp.JID, error) {
	for i, r := range c.raw {
		if r != "" && r == string(b) {
			return c.jid[i], nil
		}
	}
	raw := string(b)
	j, err := xmpp.ParseJID(raw)
	if err != nil {
		return xmpp.JID{}, err
	}
	if j.String() == raw {
		raw = j.String() // share the memory
	}
	c.raw[c.next], c.jid[c.next] = raw, j
	c.next = (c.next + 1) % ringSize
	return j, nil
}
