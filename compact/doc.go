// Package compact will hold the compact binary stream for mobile clients
// (issue 6): frames of [type|QoS][varint length][fields], a versioned static
// word dictionary plus a per-connection dynamic table, brotli per direction,
// packet merging and one-round-trip token resume (DESIGN §7).
//
// It is tier 1: it imports only package xmpp, and it encodes and decodes
// the same xmpp.Stanza every transport shares, so that after negotiation a
// compact connection is served by the same session code as an XMPP one
// (server/ owns the adapter). Nothing is implemented here yet; the package
// exists so the seam is where DESIGN.md puts it.
package compact
