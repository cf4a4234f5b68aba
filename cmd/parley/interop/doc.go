// Package interop tests the parley binary against real XMPP clients.
//
// It holds no code of its own: the tests build cmd/parley once per run,
// start it on free loopback ports with a generated configuration, create
// accounts with `parley user add`, drive off-the-shelf clients against it and
// stop it with SIGTERM, checking that it exits 0. The clients are:
//
//   - slixmpp (Debian python3-slixmpp, run with /usr/bin/python3):
//     clients/slixmpp_client.py, one scenario per feature group — SASL
//     mechanisms, roster and subscriptions, presence, messages, offline
//     delivery, disco, vcard-temp, private storage, blocking, PEP, ping,
//     in-band registration and direct TLS;
//   - xmpp.js (@xmpp/client 0.14, npm): clients/xmppjs_client.mjs over TCP
//     with STARTTLS, direct TLS and WebSocket;
//   - go-sendxmpp (Debian) over STARTTLS and direct TLS, received by a
//     mellium.im/xmpp client;
//   - mellium.im/xmpp itself, in Go: STARTTLS, every SCRAM variant and
//     PLAIN, bind, roster, messages and disco.
//
// The tests start processes, so -short skips them. A missing client is a
// loud skip on a developer machine and a failure under CI=true; .ci/run
// installs them (apt-get for python3-slixmpp and go-sendxmpp, npm ci in
// clients/ for xmpp.js).
package interop
