package conf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// errorLines returns the text of each error in err, one per *Error.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var lines []string
	for _, e := range Errors(err) {
		lines = append(lines, e.Error())
	}
	if got := strings.Join(lines, "\n"); got != err.Error() {
		t.Errorf("err.Error() and its *Errors differ:\n%s\nvs\n%s", err.Error(), got)
	}
	return lines
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown top-level key with suggestion",
			src:  "data_dri: /x\n",
			want: []string{`parley.yaml:1: data_dri: unknown key (did you mean "data_dir"?)`},
		},
		{
			name: "unknown key without a close match lists the valid ones",
			src:  "log:\n  colour: red\n",
			want: []string{`parley.yaml:2: log.colour: unknown key (valid keys: level, format)`},
		},
		{
			name: "unknown key in a list item",
			src: `listeners:
  - type: xmpp
    address: 127.0.0.1:5222
  - type: xmpps
    adress: 127.0.0.1:5223
`,
			want: []string{
				`parley.yaml:4: listeners[1].address: required (host:port)`,
				`parley.yaml:5: listeners[1].adress: unknown key (did you mean "address"?)`,
			},
		},
		{
			name: "duplicate key",
			src:  "data_dir: /a\nlog: {level: info}\ndata_dir: /b\n",
			want: []string{`parley.yaml:3: data_dir: duplicate key (first set on line 1)`},
		},
		{
			name: "duplicate key in a nested mapping",
			src:  "limits:\n  fd_reserve: 1\n  fd_reserve: 2\n",
			want: []string{`parley.yaml:3: limits.fd_reserve: duplicate key (first set on line 2)`},
		},
		{
			name: "wrong kinds",
			src: `hosts: localhost
limits:
  max_stanza_bytes: lots
  max_sessions: 1.5
  fd_reserve: 99999999999999999999
  stanzas: {rate: fast}
listeners:
  - type: xmpp
    address: [a]
    require_tls: maybe
`,
			want: []string{
				`parley.yaml:1: hosts: want a list, got "localhost"`,
				`parley.yaml:3: limits.max_stanza_bytes: want an integer, got "lots"`,
				`parley.yaml:4: limits.max_sessions: want an integer, got "1.5"`,
				`parley.yaml:5: limits.fd_reserve: want an integer, got "99999999999999999999"`,
				`parley.yaml:6: limits.stanzas.rate: want a number, got "fast"`,
				`parley.yaml:9: listeners[0].address: want a string, got a list`,
				`parley.yaml:10: listeners[0].require_tls: want true or false, got "maybe"`,
			},
		},
		{
			name: "durations take Go syntax",
			src:  "limits:\n  idle_timeout: 300\n  negotiation_timeout: 1 minute\n",
			want: []string{
				`parley.yaml:2: limits.idle_timeout: want a duration such as "30s", "5m" or "1h30m", got "300"`,
				`parley.yaml:3: limits.negotiation_timeout: want a duration such as "30s", "5m" or "1h30m", got "1 minute"`,
			},
		},
		{
			name: "top level is not a mapping",
			src:  "- a\n- b\n",
			want: []string{`parley.yaml:1: want a mapping, got a list`},
		},
		{
			name: "yaml syntax error",
			src:  "log:\n  level: info\n   format: json\n",
			want: []string{`parley.yaml:3: invalid YAML: mapping values are not allowed in this context`},
		},
		{
			name: "two documents",
			src:  "data_dir: /a\n---\ndata_dir: /b\n",
			want: []string{`parley.yaml:2: a second YAML document: the configuration is one document`},
		},
		{
			name: "alias of the wrong kind",
			src:  "hosts: &h\n  - domain: a.example\n    tls: *h\n",
			want: []string{`parley.yaml:3: hosts[0].tls: want a mapping, got a list`},
		},
		{
			name: "log values",
			src:  "log: {level: verbose, format: jsn}\n",
			want: []string{
				`parley.yaml:1: log.level: "verbose" is not one of "debug", "info", "warn", "error"`,
				`parley.yaml:1: log.format: "jsn" is not one of "text", "json" (did you mean "json"?)`,
			},
		},
		{
			name: "empty data_dir",
			src:  "data_dir: ''\n",
			want: []string{`parley.yaml:1: data_dir: must not be empty`},
		},
		{
			name: "no hosts",
			src:  "hosts: []\n",
			want: []string{`parley.yaml:1: hosts: at least one host is required`},
		},
		{
			name: "bad domains",
			src: `hosts:
  - domain: user@example.org
  - domain: example.org/res
  - domain: "exa mple.org"
  - isolated: true
`,
			want: []string{
				`parley.yaml:2: hosts[0].domain: "user@example.org" is not a domain (a domain has no "@" or "/")`,
				`parley.yaml:3: hosts[1].domain: "example.org/res" is not a domain (a domain has no "@" or "/")`,
				`parley.yaml:4: hosts[2].domain: "exa mple.org" is not a valid domain: xmpp: invalid jid; idna: disallowed rune U+0020`,
				`parley.yaml:5: hosts[3].domain: required`,
			},
		},
		{
			name: "duplicate domains after normalisation",
			src:  "hosts:\n  - domain: example.org\n  - domain: Example.ORG.\n",
			want: []string{`parley.yaml:3: hosts[1].domain: "example.org" is already served by hosts[0] (line 2)`},
		},
		{
			name: "resource_conflict",
			src:  "hosts:\n  - domain: example.org\n    resource_conflict: replac\n",
			want: []string{`parley.yaml:3: hosts[0].resource_conflict: "replac" is not one of "replace", "refuse", "rename" (did you mean "replace"?)`},
		},
		{
			name: "tls cert without key",
			src:  "hosts:\n  - domain: example.org\n    tls:\n      cert: /x.pem\n",
			want: []string{`parley.yaml:3: hosts[0].tls.key: required when tls.cert is set`},
		},
		{
			name: "tls key without cert",
			src:  "hosts:\n  - domain: example.org\n    tls: {key: /x.pem}\n",
			want: []string{`parley.yaml:3: hosts[0].tls.cert: required when tls.key is set`},
		},
		{
			name: "no listeners",
			src:  "listeners: []\n",
			want: []string{`parley.yaml:1: listeners: at least one listener is required`},
		},
		{
			name: "listener type",
			src:  "listeners:\n  - type: webscoket\n    address: 127.0.0.1:5280\n  - address: 127.0.0.1:1\n",
			want: []string{
				`parley.yaml:2: listeners[0].type: "webscoket" is not one of "xmpp", "xmpps", "websocket" (did you mean "websocket"?)`,
				`parley.yaml:4: listeners[1].type: required: one of "xmpp", "xmpps", "websocket"`,
			},
		},
		{
			name: "listener addresses",
			src: `listeners:
  - {type: xmpp, address: "127.0.0.1"}
  - {type: xmpp, address: "127.0.0.1:99999"}
  - {type: xmpp, address: "127.0.0.1:xmpp-client"}
  - {type: xmpp, address: "[::1]:-1"}
`,
			want: []string{
				`parley.yaml:2: listeners[0].address: "127.0.0.1" is not host:port (missing port in address)`,
				`parley.yaml:3: listeners[1].address: "127.0.0.1:99999": the port must be a number from 0 to 65535, got "99999"`,
				`parley.yaml:4: listeners[2].address: "127.0.0.1:xmpp-client": the port must be a number from 0 to 65535, got "xmpp-client"`,
				`parley.yaml:5: listeners[3].address: "[::1]:-1": the port must be a number from 0 to 65535, got "-1"`,
			},
		},
		{
			name: "listeners on the same address",
			src: `listeners:
  - {type: xmpp, address: "127.0.0.1:5222"}
  - {type: xmpps, address: "127.0.0.1:5222"}
  - {type: xmpps, address: ":5223"}
  - {type: websocket, address: "127.0.0.2:5223"}
  - {type: xmpp, address: "0.0.0.0:6000"}
  - {type: xmpp, address: "10.1.1.1:6000"}
  - {type: xmpp, address: "[::1]:6000"}
  - {type: xmpp, address: "[::ffff:127.0.0.1]:5222"}
  - {type: xmpp, address: "127.0.0.1:0"}
  - {type: xmpps, address: "127.0.0.1:0"}
`,
			want: []string{
				`parley.yaml:3: listeners[1].address: 127.0.0.1:5222 is already used by listeners[0] (127.0.0.1:5222, line 2)`,
				`parley.yaml:5: listeners[3].address: 127.0.0.2:5223 is already used by listeners[2] (:5223, line 4)`,
				`parley.yaml:7: listeners[5].address: 10.1.1.1:6000 is already used by listeners[4] (0.0.0.0:6000, line 6)`,
				`parley.yaml:9: listeners[7].address: [::ffff:127.0.0.1]:5222 is already used by listeners[0] (127.0.0.1:5222, line 2)`,
			},
		},
		{
			name: "websocket options",
			src: `listeners:
  - type: websocket
    address: 127.0.0.1:5280
    path: xmpp
    trusted_proxies: [10.0.0.0/8, 10.1.2.3, "fd00::/8", proxy]
`,
			want: []string{
				`parley.yaml:4: listeners[0].path: "xmpp" must start with "/"`,
				`parley.yaml:5: listeners[0].trusted_proxies[1]: "10.1.2.3" is not a CIDR such as "10.0.0.0/8" (for one address write 10.1.2.3/32)`,
				`parley.yaml:5: listeners[0].trusted_proxies[3]: "proxy" is not a CIDR such as "10.0.0.0/8"`,
			},
		},
		{
			name: "options on the wrong listener type",
			src: `listeners:
  - type: xmpps
    address: 127.0.0.1:5223
    require_tls: true
    path: /ws
    tls: true
    trusted_proxies: []
`,
			want: []string{
				`parley.yaml:4: listeners[0].require_tls: applies only to "xmpp" listeners`,
				`parley.yaml:5: listeners[0].path: applies only to "websocket" listeners`,
				`parley.yaml:6: listeners[0].tls: applies only to "websocket" listeners`,
				`parley.yaml:7: listeners[0].trusted_proxies: applies only to "websocket" listeners`,
			},
		},
		{
			name: "admin not on loopback",
			src:  "admin:\n  address: 0.0.0.0:5380\n",
			want: []string{`parley.yaml:2: admin.address: "0.0.0.0:5380" is not a loopback address (127.0.0.1, [::1] or localhost): the admin endpoint has no authentication of its own; use "off" to disable it`},
		},
		{
			name: "admin empty or malformed",
			src:  "admin:\n  address: ''\n",
			want: []string{`parley.yaml:2: admin.address: required: a loopback host:port, or "off"`},
		},
		{
			name: "storage",
			src:  "storage:\n  backend: ''\n  options: [1]\n",
			want: []string{
				`parley.yaml:2: storage.backend: must name a backend, such as "embedded" or "mysql"`,
				`parley.yaml:3: storage.options: want a mapping, got a list`,
			},
		},
		{
			name: "storage options with a repeated key",
			src:  "storage:\n  backend: mysql\n  options:\n    dsn: a\n    dsn: b\n",
			want: []string{`parley.yaml:5: storage.options.dsn: duplicate key (first set on line 4)`},
		},
		{
			name: "limits",
			src: `limits:
  max_stanza_bytes: 0
  idle_timeout: -5m
  negotiation_timeout: 0s
  max_sessions: -1
  fd_reserve: 0
  outbound_queue_bytes: -1
  auth_per_ip: {rate: -1}
  auth_per_account: {rate: .nan}
  stanzas: {rate: 10, burst: 0}
`,
			want: []string{
				`parley.yaml:2: limits.max_stanza_bytes: must be above 0, got 0`,
				`parley.yaml:3: limits.idle_timeout: must be above 0, got -5m0s`,
				`parley.yaml:4: limits.negotiation_timeout: must be above 0, got 0s`,
				`parley.yaml:5: limits.max_sessions: must be 0 (derived from the open-file limit) or more, got -1`,
				`parley.yaml:6: limits.fd_reserve: must be above 0, got 0`,
				`parley.yaml:7: limits.outbound_queue_bytes: must be above 0, got -1`,
				`parley.yaml:8: limits.auth_per_ip.rate: must be a number of 0 (no limit) or more, got -1`,
				`parley.yaml:9: limits.auth_per_account.rate: must be a number of 0 (no limit) or more, got NaN`,
				`parley.yaml:10: limits.stanzas.burst: must be at least 1 when rate is above 0, or nothing would pass`,
			},
		},
		{
			name: "negative burst",
			src:  "limits:\n  stanzas:\n    rate: 0\n    burst: -1\n",
			want: []string{`parley.yaml:4: limits.stanzas.burst: must be 0 or more, got -1`},
		},
		{
			name: "module block shapes",
			src: `modules:
  ping: yes
  vcard: [1]
  mam: {enabled: maybe, max: 3}
  carbons:
    a: 1
    a: 2
`,
			want: []string{
				`parley.yaml:2: modules.ping: want a mapping of the module's options, or true or false, got "yes"`,
				`parley.yaml:3: modules.vcard: want a mapping of the module's options, or true or false, got a list`,
				`parley.yaml:4: modules.mam.enabled: want true or false, got "maybe"`,
				`parley.yaml:7: modules.carbons.a: duplicate key (first set on line 6)`,
			},
		},
		{
			name: "merge key loop",
			src:  "modules:\n  mam: &m\n    <<: *m\n",
			want: []string{`parley.yaml:3: modules.mam: alias *m is used inside its own anchor`},
		},
		{
			name: "errors are sorted by line",
			src:  "limits:\n  fd_reserve: 0\nlog: {level: x}\ndata_dir: ''\nbogus: 1\n",
			want: []string{
				`parley.yaml:2: limits.fd_reserve: must be above 0, got 0`,
				`parley.yaml:3: log.level: "x" is not one of "debug", "info", "warn", "error"`,
				`parley.yaml:4: data_dir: must not be empty`,
				`parley.yaml:5: bogus: unknown key (valid keys: data_dir, log, hosts, listeners, admin, storage, limits, modules)`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("parley.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors:\n%s", strings.Join(tc.want, "\n"))
			}
			if c != nil {
				t.Errorf("Parse returned a Config with its errors")
			}
			got := errorLines(t, err)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, e := range Errors(err) {
				if e.File != "parley.yaml" || e.Line == 0 {
					t.Errorf("error without file or line: %#v", e)
				}
			}
		})
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Check(); err != nil {
		t.Fatalf("Default().Check() = %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "data_dir", got: c.DataDir, want: "./parley-data"},
		{name: "log", got: c.Log, want: Log{Level: "info", Format: "text"}},
		{name: "hosts", got: c.Hosts, want: []Host{{Domain: "localhost", ResourceConflict: "replace"}}},
		{name: "listeners", got: c.Listeners, want: []Listener{
			{Type: "xmpp", Address: "127.0.0.1:5222", RequireTLS: ptr(true)},
			{Type: "xmpps", Address: "127.0.0.1:5223"},
			{Type: "websocket", Address: "127.0.0.1:5280", Path: "/xmpp-websocket"},
		}},
		{name: "admin", got: c.Admin.Address, want: "127.0.0.1:5380"},
		{name: "storage", got: c.Storage.Backend, want: "embedded"},
		{name: "storage options", got: c.Storage.Options.Kind, want: yaml.Kind(0)},
		{name: "limits", got: c.Limits, want: Limits{
			MaxStanzaBytes:     262144,
			IdleTimeout:        5 * time.Minute,
			NegotiationTimeout: 30 * time.Second,
			MaxSessions:        0,
			FDReserve:          512,
			OutboundQueueBytes: 1 << 20,
			AuthPerIP:          Rate{Rate: 0.2, Burst: 10},
			AuthPerAccount:     Rate{Rate: 0.05, Burst: 5},
			Stanzas:            Rate{Rate: 200, Burst: 1000},
		}},
		{name: "modules", got: len(c.Modules), want: 0},
		{name: "file", got: c.File, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %+v, want %+v", tc.got, tc.want)
			}
		})
	}
	if Default().Listeners[0].RequireTLS == c.Listeners[0].RequireTLS {
		t.Errorf("two Defaults share a RequireTLS pointer")
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "empty file",
			src:  "",
			check: func(t *testing.T, c *Config) {
				want := Default()
				want.File = "parley.yaml"
				want.lines = c.lines
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v, want the defaults %+v", c, want)
				}
			},
		},
		{
			name: "comments only",
			src:  "# nothing here\n",
			check: func(t *testing.T, c *Config) {
				if c.DataDir != "./parley-data" || len(c.Listeners) != 3 {
					t.Errorf("got %+v, want the defaults", c)
				}
			},
		},
		{
			name: "only hosts keeps the default listeners",
			src:  "hosts:\n  - domain: Example.ORG.\n  - domain: tenant.example.net\n    isolated: true\n    resource_conflict: refuse\n",
			check: func(t *testing.T, c *Config) {
				wantHosts := []Host{
					{Domain: "example.org", ResourceConflict: "replace"},
					{Domain: "tenant.example.net", Isolated: true, ResourceConflict: "refuse"},
				}
				if !reflect.DeepEqual(c.Hosts, wantHosts) {
					t.Errorf("hosts = %+v, want %+v", c.Hosts, wantHosts)
				}
				if !reflect.DeepEqual(c.Listeners, Default().Listeners) {
					t.Errorf("listeners = %+v, want the defaults", c.Listeners)
				}
				if c.Limits != Default().Limits {
					t.Errorf("limits = %+v, want the defaults", c.Limits)
				}
			},
		},
		{
			name: "partial blocks keep their other defaults",
			src:  "log: {level: debug}\nlimits:\n  idle_timeout: 90s\n  auth_per_ip: {rate: 0.5}\n",
			check: func(t *testing.T, c *Config) {
				if c.Log != (Log{Level: "debug", Format: "text"}) {
					t.Errorf("log = %+v", c.Log)
				}
				want := Default().Limits
				want.IdleTimeout = 90 * time.Second
				want.AuthPerIP = Rate{Rate: 0.5, Burst: 10}
				if c.Limits != want {
					t.Errorf("limits = %+v, want %+v", c.Limits, want)
				}
			},
		},
		{
			name: "null values mean the default",
			src:  "data_dir:\nlog: ~\nlimits: {idle_timeout: null}\n",
			check: func(t *testing.T, c *Config) {
				if c.DataDir != "./parley-data" || c.Log.Level != "info" || c.Limits.IdleTimeout != 5*time.Minute {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "listener items get their own defaults",
			src: `listeners:
  - {type: xmpp, address: ":5222"}
  - {type: xmpp, address: "[::1]:5322", require_tls: false}
  - {type: websocket, address: "127.0.0.1:0"}
  - {type: xmpps, address: "127.0.0.1:0"}
admin: {address: "off"}
`,
			check: func(t *testing.T, c *Config) {
				want := []Listener{
					{Type: "xmpp", Address: ":5222", RequireTLS: ptr(true)},
					{Type: "xmpp", Address: "[::1]:5322", RequireTLS: ptr(false)},
					{Type: "websocket", Address: "127.0.0.1:0", Path: "/xmpp-websocket"},
					{Type: "xmpps", Address: "127.0.0.1:0"},
				}
				if !reflect.DeepEqual(c.Listeners, want) {
					t.Errorf("listeners = %+v, want %+v", c.Listeners, want)
				}
				if c.Admin.Address != "off" {
					t.Errorf("admin = %q", c.Admin.Address)
				}
			},
		},
		{
			name: "aliases between blocks",
			src: `limits:
  auth_per_ip: &r {rate: 2, burst: 4}
  auth_per_account: *r
  stanzas:
    <<: *r
    burst: 8
`,
			check: func(t *testing.T, c *Config) {
				l := c.Limits
				if l.AuthPerIP != (Rate{2, 4}) || l.AuthPerAccount != (Rate{2, 4}) || l.Stanzas != (Rate{2, 8}) {
					t.Errorf("limits = %+v", l)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("parley.yaml", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.File != "parley.yaml" {
				t.Errorf("File = %q", c.File)
			}
			tc.check(t, c)
		})
	}
}

func TestExampleFile(t *testing.T) {
	c, err := Load("parley.yaml")
	if err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	// The example sets every key to its default.
	want := Default()
	want.File, want.lines = c.File, c.lines
	want.Hosts[0].TLS = c.Hosts[0].TLS
	want.Listeners[2].TrustedProxies = []string{}
	want.Storage.Options = c.Storage.Options
	want.Modules = map[string]yaml.Node{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("the example's values differ from Default:\n got %+v\nwant %+v", c, want)
	}

	// Every key of every block appears in the example.
	indexes := regexp.MustCompile(`\[\d+\]`)
	present := map[string]bool{}
	for k := range c.lines {
		present[indexes.ReplaceAllString(k, "[]")] = true
	}
	for _, key := range allKeys(reflect.TypeFor[Config](), "") {
		if !present[key] {
			t.Errorf("key %s is missing from parley.yaml", key)
		}
	}
}

// allKeys lists the key paths of t, list items written "[]", stopping at
// raw blocks (yaml.Node) and maps.
func allKeys(t reflect.Type, prefix string) []string {
	var keys []string
	fs := fieldsOf(t)
	for _, name := range fs.names {
		f := t.FieldByIndex(fs.byName[name])
		key := joinKey(prefix, name)
		keys = append(keys, key)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			keys = append(keys, allKeys(ft.Elem(), key+"[]")...)
		} else if ft.Kind() == reflect.Struct && ft != nodeType && ft != reflect.TypeFor[time.Duration]() {
			keys = append(keys, allKeys(ft, key)...)
		}
	}
	return keys
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	_, err := Load(missing)
	var e *Error
	if !errors.As(err, &e) || e.File != missing || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want an *Error for the file wrapping ErrNotExist", err)
	}
	if want := missing + ": cannot read the configuration: no such file or directory"; err.Error() != want {
		t.Errorf("Load(missing) = %q, want %q", err, want)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listeners:\n  - type: xmpp\n    adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	want := []string{
		bad + `:2: listeners[0].address: required (host:port)`,
		bad + `:3: listeners[0].adress: unknown key (did you mean "address"?)`,
	}
	if got := errorLines(t, err); !slices.Equal(got, want) {
		t.Errorf("Load(bad):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLine(t *testing.T) {
	c, err := Parse("p.yaml", []byte("data_dir: /x\nlisteners:\n  - type: xmpp\n    address: :1\nmodules:\n  \"a.b\": {x: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want int
	}{
		{key: "data_dir", want: 1},
		{key: "listeners", want: 2},
		{key: "listeners[0]", want: 3},
		{key: "listeners[0].address", want: 4},
		{key: "listeners[0].path", want: 3}, // not set: its item
		{key: "modules[\"a.b\"].x", want: 6},
		{key: "log.level", want: 0}, // only defaults
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := c.Line(tc.key); got != tc.want {
				t.Errorf("Line(%q) = %d, want %d", tc.key, got, tc.want)
			}
		})
	}
	if got, want := c.Errorf("storage.backend", "unknown backend %q", "x").Error(), `p.yaml: storage.backend: unknown backend "x"`; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
	if got, want := c.Errorf("listeners[0].type", "bad").Error(), `p.yaml:3: listeners[0].type: bad`; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
}

func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("parley.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		"",
		"hosts: [{domain: a.example}]\n",
		"listeners:\n  - {type: xmpp, address: ':5222'}\n  - {type: websocket, address: ':5222', path: x}\n",
		"a: &a [*a]\n",
		"modules: &m {x: {<<: *m}}\n",
		"limits: {idle_timeout: 5m, stanzas: {rate: 1e9, burst: 1}}\n",
		"modules: {vcard: false, mam: {enabled: false, max: 3}}\n",
		"storage: {backend: mysql, options: {dsn: x}}\n---\nx: 1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a Config with an error")
			}
			for _, e := range Errors(err) {
				if e.File != "fuzz.yaml" {
					t.Fatalf("error without the file: %#v", e)
				}
			}
			if len(Errors(err)) == 0 {
				t.Fatalf("error without an *Error: %v", err)
			}
			return
		}
		// A configuration that loads is checked and complete.
		if err := c.Check(); err != nil {
			t.Fatalf("Check after a successful Parse: %v", err)
		}
		for id := range c.Modules {
			c.Module(id)
			_ = c.DecodeModule(id, &map[string]any{})
		}
		_ = c.DecodeStorage(&map[string]any{})
	})
}
