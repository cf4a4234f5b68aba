package conf

import (
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/xmpp"
	"gopkg.in/yaml.v3"
)

// Check fills in the defaults of list items (a host's resource_conflict, an
// xmpp listener's require_tls, a websocket listener's path), normalises the
// domains and checks every value, as Parse does after decoding. Parse and
// Load call it; a configuration built in code (Default, then changed) should
// too. Errors are *Error values joined and sorted by line.
//
// Check cannot know which storage backends and modules are compiled in: the
// server checks storage.backend against the storage registry (reporting with
// Errorf) and the module IDs with CheckModules.
func (c *Config) Check() error { return joinErrors(c.check()) }

// checker collects the errors of one Check.
type checker struct {
	c    *Config
	errs []*Error
}

func (k *checker) fail(key, format string, args ...any) {
	k.errs = append(k.errs, k.c.Errorf(key, format, args...))
}

// set reports whether the file set key (as opposed to a default).
func (k *checker) set(key string) bool {
	_, ok := k.c.lines[key]
	return ok
}

func (c *Config) check() []*Error {
	k := &checker{c: c}
	if c.DataDir == "" {
		k.fail("data_dir", "must not be empty")
	}
	k.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	k.oneOf("log.format", c.Log.Format, "text", "json")
	k.hosts()
	k.listeners()
	k.admin()
	if c.Storage.Backend == "" {
		k.fail("storage.backend", "must name a backend, such as \"embedded\" or \"mysql\"")
	}
	if n := &c.Storage.Options; n.Kind != 0 && n.Kind != yaml.MappingNode && !isNull(n) {
		k.fail("storage.options", "want a mapping, got %s", describe(n))
	}
	k.limits()
	k.modules()
	return k.errs
}

func (k *checker) oneOf(key, got string, valid ...string) {
	for _, v := range valid {
		if got == v {
			return
		}
	}
	k.fail(key, "%s", oneOf(got, valid...))
}

func (k *checker) hosts() {
	c := k.c
	if len(c.Hosts) == 0 {
		k.fail("hosts", "at least one host is required")
	}
	seen := map[string]int{} // normalised domain → index
	for i := range c.Hosts {
		h := &c.Hosts[i]
		key := indexKey("hosts", i)
		if h.ResourceConflict == "" {
			h.ResourceConflict = "replace"
		}
		k.oneOf(key+".resource_conflict", h.ResourceConflict, "replace", "refuse", "rename")
		k.tls(key+".tls", h.TLS)
		if h.Domain == "" {
			k.fail(key+".domain", "required")
			continue
		}
		j, err := xmpp.ParseJID(h.Domain)
		if err != nil {
			k.fail(key+".domain", "%q is not a valid domain: %s", h.Domain, oneLine(err))
			continue
		}
		if j.Local() != "" || j.Resource() != "" {
			k.fail(key+".domain", "%q is not a domain (a domain has no \"@\" or \"/\")", h.Domain)
			continue
		}
		h.Domain = j.String()
		if first, dup := seen[h.Domain]; dup {
			k.fail(key+".domain", "%q is already served by hosts[%d] (line %d)", h.Domain, first, c.Line(indexKey("hosts", first)+".domain"))
			continue
		}
		seen[h.Domain] = i
	}
}

// maxPEMBytes bounds what is read of a certificate or key file: enough for
// any real chain, and no hang on a device or pipe given by mistake.
const maxPEMBytes = 1 << 20

func (k *checker) tls(key string, t TLS) {
	switch {
	case t.Cert == "" && t.Key == "":
		return
	case t.Cert == "":
		k.fail(key+".cert", "required when tls.key is set")
		return
	case t.Key == "":
		k.fail(key+".key", "required when tls.cert is set")
		return
	}
	cert, certErr := readPEM(t.Cert)
	if certErr != nil {
		k.fail(key+".cert", "%s", certErr)
	}
	pkey, keyErr := readPEM(t.Key)
	if keyErr != nil {
		k.fail(key+".key", "%s", keyErr)
	}
	if certErr != nil || keyErr != nil {
		return
	}
	if _, err := tls.X509KeyPair(cert, pkey); err != nil {
		k.fail(key, "cert %s and key %s do not make a key pair: %s", t.Cert, t.Key, strings.TrimPrefix(err.Error(), "tls: "))
	}
}

// readPEM reads a regular file of at most maxPEMBytes. The file is checked
// before it is opened: opening a FIFO would block.
func readPEM(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	if len(data) > maxPEMBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPEMBytes)
	}
	return data, nil
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// listenAddr is a checked listener address.
type listenAddr struct {
	host string
	ip   netip.Addr // zero when host is a name or empty
	port uint16
}

// parseAddr checks a host:port with a numeric port.
func parseAddr(s string) (listenAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return listenAddr{}, fmt.Errorf("%q is not host:port (%s)", s, strings.TrimPrefix(err.Error(), "address "+s+": "))
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return listenAddr{}, fmt.Errorf("%q: the port must be a number from 0 to 65535, got %q", s, port)
	}
	a := listenAddr{host: host, port: uint16(p)}
	if ip, err := netip.ParseAddr(host); err == nil {
		a.ip = ip.Unmap()
	}
	return a, nil
}

// overlaps reports whether two listeners could not both bind. Port 0 asks
// the kernel for a free port, so it never collides. An empty host or "::"
// listens on every address of both families, "0.0.0.0" on every IPv4 one;
// host names are compared as written.
func (a listenAddr) overlaps(b listenAddr) bool {
	if a.port == 0 || a.port != b.port {
		return false
	}
	all := func(x listenAddr) bool { return x.host == "" || (x.ip.Is6() && x.ip.IsUnspecified()) }
	allV4 := func(x listenAddr) bool { return x.ip.Is4() && x.ip.IsUnspecified() }
	v4orName := func(x listenAddr) bool { return x.ip.Is4() || !x.ip.IsValid() }
	switch {
	case all(a) || all(b):
		return true
	case allV4(a) && v4orName(b), allV4(b) && v4orName(a):
		return true
	case a.ip.IsValid() && b.ip.IsValid():
		return a.ip == b.ip
	default:
		return strings.EqualFold(a.host, b.host)
	}
}

func (k *checker) listeners() {
	c := k.c
	if len(c.Listeners) == 0 {
		k.fail("listeners", "at least one listener is required")
	}
	addrs := make([]listenAddr, len(c.Listeners))
	valid := make([]bool, len(c.Listeners))
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := indexKey("listeners", i)
		switch l.Type {
		case "xmpp":
			if l.RequireTLS == nil {
				l.RequireTLS = ptr(true)
			}
		case "websocket":
			if l.Path == "" {
				l.Path = defaultWebSocketPath
			}
			if !strings.HasPrefix(l.Path, "/") {
				k.fail(key+".path", "%q must start with \"/\"", l.Path)
			}
			for j, p := range l.TrustedProxies {
				if _, err := netip.ParsePrefix(p); err != nil {
					hint := ""
					if ip, err := netip.ParseAddr(p); err == nil {
						hint = fmt.Sprintf(" (for one address write %s/%d)", ip, ip.BitLen())
					}
					k.fail(indexKey(key+".trusted_proxies", j), "%q is not a CIDR such as \"10.0.0.0/8\"%s", p, hint)
				}
			}
		case "":
			k.fail(key+".type", "required: one of \"xmpp\", \"xmpps\", \"websocket\"")
		default:
			k.oneOf(key+".type", l.Type, "xmpp", "xmpps", "websocket")
		}
		if l.Type != "" && l.Type != "xmpp" && k.set(key+".require_tls") {
			k.fail(key+".require_tls", "applies only to \"xmpp\" listeners")
		}
		if l.Type != "" && l.Type != "websocket" {
			for _, opt := range []string{"path", "tls", "trusted_proxies"} {
				if k.set(key + "." + opt) {
					k.fail(key+"."+opt, "applies only to \"websocket\" listeners")
				}
			}
		}
		if l.Address == "" {
			k.fail(key+".address", "required (host:port)")
			continue
		}
		a, err := parseAddr(l.Address)
		if err != nil {
			k.fail(key+".address", "%s", err)
			continue
		}
		for j := range i {
			if valid[j] && addrs[j].overlaps(a) {
				k.fail(key+".address", "%s is already used by listeners[%d] (%s, line %d)",
					l.Address, j, c.Listeners[j].Address, c.Line(indexKey("listeners", j)+".address"))
				break
			}
		}
		addrs[i], valid[i] = a, true
	}
}

func (k *checker) admin() {
	addr := k.c.Admin.Address
	switch addr {
	case "off":
		return
	case "":
		k.fail("admin.address", "required: a loopback host:port, or \"off\"")
		return
	}
	a, err := parseAddr(addr)
	if err != nil {
		k.fail("admin.address", "%s", err)
		return
	}
	if !strings.EqualFold(a.host, "localhost") && !(a.ip.IsValid() && a.ip.IsLoopback()) {
		k.fail("admin.address", "%q is not a loopback address (127.0.0.1, [::1] or localhost): the admin endpoint has no authentication of its own; use \"off\" to disable it", addr)
	}
}

func (k *checker) limits() {
	l := &k.c.Limits
	positive := func(key string, v int) {
		if v <= 0 {
			k.fail("limits."+key, "must be above 0, got %d", v)
		}
	}
	positive("max_stanza_bytes", l.MaxStanzaBytes)
	positive("fd_reserve", l.FDReserve)
	positive("outbound_queue_bytes", l.OutboundQueueBytes)
	if l.MaxSessions < 0 {
		k.fail("limits.max_sessions", "must be 0 (derived from the open-file limit) or more, got %d", l.MaxSessions)
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{{"idle_timeout", l.IdleTimeout}, {"negotiation_timeout", l.NegotiationTimeout}} {
		if t.d <= 0 {
			k.fail("limits."+t.key, "must be above 0, got %s", t.d)
		}
	}
	for _, t := range []struct {
		key string
		r   Rate
	}{{"auth_per_ip", l.AuthPerIP}, {"auth_per_account", l.AuthPerAccount}, {"stanzas", l.Stanzas}} {
		key, r := "limits."+t.key, t.r
		switch {
		case math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0) || r.Rate < 0:
			k.fail(key+".rate", "must be a number of 0 (no limit) or more, got %v", r.Rate)
		case r.Burst < 0:
			k.fail(key+".burst", "must be 0 or more, got %d", r.Burst)
		case r.Rate > 0 && r.Burst < 1:
			k.fail(key+".burst", "must be at least 1 when rate is above 0, or nothing would pass")
		}
	}
}

// modules checks each module block's shape: nothing, true/false, or a
// mapping whose optional "enabled" is true or false.
func (k *checker) modules() {
	for _, id := range sortedModuleIDs(k.c) {
		key := childKey("modules", id)
		if id == "" {
			k.fail(key, "a module ID must not be empty")
			continue
		}
		n := k.c.Modules[id]
		b := resolveAlias(&n)
		switch {
		case b.Kind == 0, isNull(b), b.Kind == yaml.ScalarNode && b.ShortTag() == boolTag:
		case b.Kind == yaml.MappingNode:
			var d decoder
			for _, p := range d.pairs(b, key) {
				if p.k.Value == "enabled" {
					if v := resolveAlias(p.v); v.Kind != yaml.ScalarNode || v.ShortTag() != boolTag {
						k.errs = append(k.errs, &Error{File: k.c.File, Line: v.Line, Key: key + ".enabled", Msg: "want true or false, got " + describe(v)})
					}
				}
			}
		default:
			k.fail(key, "want a mapping of the module's options, or true or false, got %s", describe(b))
		}
	}
}
