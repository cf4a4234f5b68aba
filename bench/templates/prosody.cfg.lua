-- Prosody 0.12 for bench/sidebyside.sh. @WORK@ and @PORT@ are filled in by the script.
-- The modules match Parley's set (see bench/README.md); no mod_limits, no mod_mam,
-- no s2s, no HTTP; registration open with its throttle off.
pidfile = "@WORK@/prosody/prosody.pid"
data_path = "@WORK@/prosody/data"
log = { warn = "@WORK@/prosody/prosody.log" }
network_backend = "epoll"
-- server_epoll's shipped default keeps Nagle's algorithm on (nagle = true);
-- sidebyside.sh --prosody-nagle off turns it off (TCP_NODELAY, as Go and ejabberd use).
network_settings = { nagle = @NAGLE@ }

interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_direct_tls_ports = { }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "carbons"; "pep"; "private";
	"blocklist"; "vcard"; "version"; "time"; "ping"; "register"; "offline";
	"posix";
}
modules_disabled = { "s2s"; "limits"; "mam"; "smacks"; "csi_simple" }

-- Shipped shapers removed: mod_limits is not loaded and limits is empty.
limits = { }

-- TLS required before authentication, as on Parley.
c2s_require_encryption = true
ssl = {
	certificate = "@WORK@/prosody/cert.pem";
	key = "@WORK@/prosody/key.pem";
}

-- Stored SCRAM-SHA-1 keys: SASL offers SCRAM-SHA-1 (and PLAIN over TLS).
authentication = "internal_hashed"
storage = "internal"

-- In-band registration open; mod_register_limits throttles only when
-- min_seconds_between_registrations or registration_throttle_max is set, and
-- neither is. Every address counts as allowed.
allow_registration = true

VirtualHost "localhost"
