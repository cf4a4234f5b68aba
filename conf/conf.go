// Package conf holds Parley's configuration types and their strict loader.
//
// The file is YAML. Unknown keys and bad values are errors that name the
// file, the line and the key, both at start-up and in `parley config check`.
// A module's block is kept as a raw YAML node and decoded strictly, with the
// same error style, by the module itself through modules.Host.Config.
//
// Field comments are the user documentation: each states its default.
package conf

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	// DataDir holds the embedded store and generated certificates.
	// Default "./parley-data".
	DataDir string `yaml:"data_dir"`

	// Log sets the log level and format.
	Log Log `yaml:"log"`

	// Hosts are the virtual hosts (domains) this server serves.
	// Default: one host, "localhost".
	Hosts []Host `yaml:"hosts"`

	// Listeners are the sockets clients connect to. Default: xmpp on
	// 127.0.0.1:5222, xmpps on 127.0.0.1:5223, websocket on 127.0.0.1:5280.
	Listeners []Listener `yaml:"listeners"`

	// Admin is the loopback HTTP endpoint for /metrics and the admin API
	// the CLI talks to. Default address "127.0.0.1:5380".
	Admin Admin `yaml:"admin"`

	// Storage selects and configures the storage backend.
	Storage Storage `yaml:"storage"`

	// Limits bound what one client may cost the server.
	Limits Limits `yaml:"limits"`

	// Modules configures in-process modules by ID. Every registered module
	// is enabled with its defaults unless its block says `enabled: false`.
	Modules map[string]yaml.Node `yaml:"modules"`

	// File is the path the configuration was read from ("" for defaults).
	File string `yaml:"-"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Host is one virtual host.
type Host struct {
	// Domain is the host's domain name. Required.
	Domain string `yaml:"domain"`

	// Isolated refuses stanzas between this domain and any other local
	// domain (a tenant boundary). Default false: local domains reach each
	// other as if federated.
	Isolated bool `yaml:"isolated"`

	// TLS is the certificate for this domain. Default: a self-signed ECDSA
	// P-256 certificate covering every configured domain, generated in
	// DataDir.
	TLS TLS `yaml:"tls"`

	// ResourceConflict decides what happens when a client binds a resource
	// that is already bound: "replace" (the old session is closed with a
	// conflict stream error), "refuse" (the new bind fails with conflict),
	// or "rename" (the new session gets a generated resource).
	// Default "replace".
	ResourceConflict string `yaml:"resource_conflict"`
}

// TLS names a certificate and key in PEM files.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Listener is one listening socket.
type Listener struct {
	// Type is "xmpp" (RFC 6120 with STARTTLS), "xmpps" (direct TLS,
	// XEP-0368) or "websocket" (RFC 7395). Required.
	Type string `yaml:"type"`

	// Address is host:port to listen on. Required.
	Address string `yaml:"address"`

	// RequireTLS refuses authentication before STARTTLS on "xmpp"
	// listeners. Default true.
	RequireTLS *bool `yaml:"require_tls"`

	// Path is the WebSocket endpoint path. Default "/xmpp-websocket".
	Path string `yaml:"path"`

	// TLS serves the WebSocket listener over TLS (wss). Default false.
	TLS bool `yaml:"tls"`

	// TrustedProxies are CIDRs of reverse proxies that terminate TLS in
	// front of a plain WebSocket listener; connections from them count as
	// secure. Plain ws from loopback is always secure. Default none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Admin configures the admin HTTP endpoint.
type Admin struct {
	// Address is host:port; it must be a loopback address. Default
	// "127.0.0.1:5380". "off" disables the endpoint.
	Address string `yaml:"address"`
}

// Storage selects the backend.
type Storage struct {
	// Backend is the registered backend name: "embedded" (Pebble, in
	// DataDir) or "mysql". Default "embedded".
	Backend string `yaml:"backend"`

	// Options is the backend's own block, decoded by the backend.
	Options yaml.Node `yaml:"options"`
}

// Limits bound what a client may cost.
type Limits struct {
	// MaxStanzaBytes is the largest top-level element accepted. Default
	// 262144 (256 KiB).
	MaxStanzaBytes int `yaml:"max_stanza_bytes"`

	// IdleTimeout closes a connection that has sent nothing, not even a
	// whitespace keepalive, for this long. Default 5m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`

	// NegotiationTimeout bounds the time from accept to a bound resource.
	// Default 30s.
	NegotiationTimeout time.Duration `yaml:"negotiation_timeout"`

	// MaxSessions caps concurrent client connections. Default 0: derived
	// from the process's open-file limit minus FDReserve.
	MaxSessions int `yaml:"max_sessions"`

	// FDReserve is the number of file descriptors kept back for the store,
	// listeners, plugins and outbound connections when MaxSessions is
	// derived. Default 512.
	FDReserve int `yaml:"fd_reserve"`

	// OutboundQueueBytes is how much output may wait for a slow reader
	// before its session is closed with a policy-violation stream error.
	// Default 1048576 (1 MiB).
	OutboundQueueBytes int `yaml:"outbound_queue_bytes"`

	// AuthPerIP and AuthPerAccount rate-limit authentication attempts,
	// checked before any password hashing.
	AuthPerIP      Rate `yaml:"auth_per_ip"`
	AuthPerAccount Rate `yaml:"auth_per_account"`

	// StanzasPerSecond is each session's sustained stanza rate; Burst its
	// bucket size. Default 200 per second, burst 1000.
	Stanzas Rate `yaml:"stanzas"`
}

// Rate is a token bucket: Rate tokens per second, up to Burst.
type Rate struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}
