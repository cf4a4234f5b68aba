// Package conf holds Parley's configuration types and their strict loader.
//
// The file is YAML. Unknown keys and bad values are errors that name the
// file, the line and the key, both at start-up and in `parley config check`.
// A module's block is kept as a raw YAML node and decoded strictly, with the
// same error style, by the module itself through modules.Host.Config.
//
// Field comments are the user documentation: each states its default.
// conf/parley.yaml is the annotated example of every key. Relative paths in
// the file are relative to the server's working directory.
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
	// is enabled with its defaults unless its block says `enabled: false`
	// (or is just `false`). A block's other keys are the module's own,
	// decoded strictly by the module (Config.Module, Config.DecodeModule).
	Modules map[string]yaml.Node `yaml:"modules"`

	// File is the path the configuration was read from ("" for defaults).
	File string `yaml:"-"`

	// lines maps the key paths set in File to their lines, for errors
	// found after decoding (Line, Errorf).
	lines map[string]int
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
	// Domain is the host's domain name. Required. Load stores it
	// normalised (RFC 7622: lower case, no trailing dot), so "Example.ORG."
	// serves example.org.
	Domain string `yaml:"domain"`

	// Isolated refuses stanzas between this domain and any other local
	// domain (a tenant boundary). Default false: local domains reach each
	// other as if federated.
	Isolated bool `yaml:"isolated"`

	// TLS is the certificate for this domain. Default: a self-signed ECDSA
	// P-256 certificate covering every configured domain, generated in
	// DataDir.
	TLS TLS `yaml:"tls"`

	// Registration opens in-band registration (XEP-0077) of new accounts
	// on this domain. Password change and account removal by logged-in
	// users work either way. Default false.
	Registration bool `yaml:"registration"`

	// ResourceConflict decides what happens when a client binds a resource
	// that is already bound: "replace" (the old session is closed with a
	// conflict stream error), "refuse" (the new bind fails with conflict),
	// or "rename" (the new session gets a generated resource).
	// Default "replace".
	ResourceConflict string `yaml:"resource_conflict"`
}

// TLS names a certificate and key in PEM files. Both or neither are set;
// Load checks that they are readable and belong together.
type TLS struct {
	// Cert is the certificate chain, leaf first.
	Cert string `yaml:"cert"`
	// Key is the private key of the leaf certificate.
	Key string `yaml:"key"`
}

// Listener is one listening socket.
type Listener struct {
	// Type is "xmpp" (RFC 6120 with STARTTLS), "xmpps" (direct TLS,
	// XEP-0368) or "websocket" (RFC 7395). Required.
	Type string `yaml:"type"`

	// Address is host:port to listen on, the port a number (0 picks a
	// free one). An empty host listens on every interface. Required; no
	// two listeners may share an address.
	Address string `yaml:"address"`

	// RequireTLS refuses authentication before STARTTLS on "xmpp"
	// listeners. Default true. Only for "xmpp" listeners: Load sets it
	// (never nil) on those and leaves it nil on the others.
	RequireTLS *bool `yaml:"require_tls"`

	// Path is the WebSocket endpoint path, starting with "/". Default
	// "/xmpp-websocket". Only for "websocket" listeners.
	Path string `yaml:"path"`

	// TLS serves the WebSocket listener over TLS (wss). Default false.
	// Only for "websocket" listeners ("xmpps" is always TLS).
	TLS bool `yaml:"tls"`

	// TrustedProxies are CIDRs of reverse proxies that terminate TLS in
	// front of a plain WebSocket listener; connections from them count as
	// secure. Plain ws from loopback is always secure. Default none. Only
	// for "websocket" listeners.
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

	// Options is the backend's own block, decoded strictly by the backend
	// (Config.DecodeStorage, or Decode on storage.Options.Config). Default
	// none.
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
	// from the process's open-file limit minus FDReserve. Not negative.
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
	// checked before any password hashing. Defaults: per IP 5 per second,
	// burst 20; per account 1 per second, burst 10.
	AuthPerIP      Rate `yaml:"auth_per_ip"`
	AuthPerAccount Rate `yaml:"auth_per_account"`

	// Stanzas is each session's sustained stanza rate and its burst.
	// Default 200 per second, burst 1000.
	Stanzas Rate `yaml:"stanzas"`
}

// Rate is a token bucket: Rate tokens per second, up to Burst. A Rate of 0
// turns the limit off; above 0, Burst must be at least 1.
type Rate struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Default returns the configuration Parley runs with when no file is given;
// Load starts from it, so every key a file leaves out keeps these values.
func Default() *Config {
	return &Config{
		DataDir: "./parley-data",
		Log:     Log{Level: "info", Format: "text"},
		Hosts:   []Host{{Domain: "localhost", ResourceConflict: "replace"}},
		Listeners: []Listener{
			{Type: "xmpp", Address: "127.0.0.1:5222", RequireTLS: ptr(true)},
			{Type: "xmpps", Address: "127.0.0.1:5223"},
			{Type: "websocket", Address: "127.0.0.1:5280", Path: defaultWebSocketPath},
		},
		Admin:   Admin{Address: "127.0.0.1:5380"},
		Storage: Storage{Backend: "embedded"},
		Limits: Limits{
			MaxStanzaBytes:     262144,
			IdleTimeout:        5 * time.Minute,
			NegotiationTimeout: 30 * time.Second,
			FDReserve:          512,
			OutboundQueueBytes: 1 << 20,
			AuthPerIP:          Rate{Rate: 0.2, Burst: 10},
			AuthPerAccount:     Rate{Rate: 0.05, Burst: 5},
			Stanzas:            Rate{Rate: 200, Burst: 1000},
		},
	}
}

const defaultWebSocketPath = "/xmpp-websocket"

func ptr[T any](v T) *T { return &v }
