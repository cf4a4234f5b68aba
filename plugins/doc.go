// Package plugins will host out-of-process plugins (issue 5) over
// hashicorp/go-plugin and gRPC: launching and supervising plugin binaries,
// filtering in process which stanzas each one sees, and loading each plugin
// as a modules.Module so it joins the same stanza chain as the built-in
// modules (DESIGN §3). The public SDK will live in plugins/sdk and import no
// server package. Nothing is implemented here yet; the package exists so
// the seam is where DESIGN.md puts it.
package plugins
