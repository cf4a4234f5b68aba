package modules

// Order is the position of every module in the stanza chain, first to last,
// and the order modules are provisioned in (Stop runs in reverse). A module
// whose ID is missing here cannot register. Blocking comes first so a
// blocked stanza meets no other module; offline comes last so it sees only
// what nothing else consumed.
var Order = []string{
	"blocking", // XEP-0191
	"roster",   // RFC 6121 §2, XEP-0237
	"presence", // RFC 6121 §3–4
	"disco",    // XEP-0030
	"caps",     // XEP-0115
	"ping",     // XEP-0199
	"version",  // XEP-0092
	"time",     // XEP-0202
	"vcard",    // XEP-0054, XEP-0153
	"private",  // XEP-0049
	"register", // XEP-0077
	"pep",      // XEP-0163, XEP-0223
	"carbons",  // XEP-0280
	"offline",  // XEP-0160
}
