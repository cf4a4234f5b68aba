package conf

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// node parses src into the root node of its document.
func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// moduleOptions is a typical module configuration, with its defaults.
type moduleOptions struct {
	MaxSize  int           `yaml:"max_size"`
	Timeout  time.Duration `yaml:"timeout"`
	HideOS   bool          `yaml:"hide_os"`
	Name     string        `yaml:"name"`
	Ratio    float64       `yaml:"ratio"`
	Small    uint8         `yaml:"small"`
	Tags     []string      `yaml:"tags"`
	Limits   map[string]int
	Servers  []server     `yaml:"servers"`
	Optional *int         `yaml:"optional"`
	Prefix   netip.Prefix `yaml:"prefix"`
	Extra    any          `yaml:"extra"`
	Secret   []byte       `yaml:"secret"`
	Pair     [2]int       `yaml:"pair"`
	Mode     mode         `yaml:"mode"`
	Ignored  string       `yaml:"-"`
	internal string       //nolint:unused // unexported fields are never decoded
	Common   `yaml:",inline"`
}

type server struct {
	Host string `yaml:"host"`
	Port uint16 `yaml:"port"`
}

type Common struct {
	Verbose bool `yaml:"verbose"`
}

// mode decodes itself, with Decode, from either a name or a mapping.
type mode struct {
	Name  string `yaml:"name"`
	Level int    `yaml:"level"`
}

func (m *mode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "fast" && n.Value != "safe" {
			return fmt.Errorf("unknown mode %q", n.Value)
		}
		m.Name = n.Value
		return nil
	}
	type plain mode
	return Decode(n, (*plain)(m))
}

func defaults() moduleOptions {
	return moduleOptions{MaxSize: 100, Timeout: time.Second, Name: "default"}
}

func TestDecode(t *testing.T) {
	seven := 7
	tests := []struct {
		name string
		src  string
		want func(o *moduleOptions)
	}{
		{name: "nothing keeps the defaults", src: "", want: func(o *moduleOptions) {}},
		{name: "empty mapping keeps the defaults", src: "{}", want: func(o *moduleOptions) {}},
		{
			name: "every kind",
			src: `max_size: 0x10
timeout: 1h30m
hide_os: true
name: 42
ratio: 2
small: 255
tags: [a, b]
limits: {x: 1}
servers:
  - {host: a, port: 5222}
optional: 7
prefix: 10.0.0.0/8
extra: {k: [1, two]}
secret: abc
pair: [1, 2]
mode: {name: slow, level: 3}
verbose: true
`,
			want: func(o *moduleOptions) {
				o.MaxSize, o.Timeout, o.HideOS, o.Name, o.Ratio, o.Small = 16, 90*time.Minute, true, "42", 2, 255
				o.Tags = []string{"a", "b"}
				o.Limits = map[string]int{"x": 1}
				o.Servers = []server{{Host: "a", Port: 5222}}
				o.Optional = &seven
				o.Prefix = netip.MustParsePrefix("10.0.0.0/8")
				o.Extra = map[string]any{"k": []any{1, "two"}}
				o.Secret = []byte("abc")
				o.Pair = [2]int{1, 2}
				o.Mode = mode{Name: "slow", Level: 3}
				o.Verbose = true
			},
		},
		{
			name: "unmarshaler from a scalar",
			src:  "mode: fast\n",
			want: func(o *moduleOptions) { o.Mode.Name = "fast" },
		},
		{
			name: "null keeps a default and clears a pointer",
			src:  "name: ~\noptional: null\n",
			want: func(o *moduleOptions) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := defaults()
			if err := Decode(node(t, tc.src), &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := defaults()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}

	t.Run("merge keys: explicit keys win, then earlier sources", func(t *testing.T) {
		var got struct {
			A, B map[string]any
			X    moduleOptions
		}
		src := `a: &a {name: from-a, max_size: 1}
b: &b {name: from-b, ratio: 3}
x:
  <<: [*a, *b]
  max_size: 2
`
		if err := Decode(node(t, src), &got); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got.X.Name != "from-a" || got.X.MaxSize != 2 || got.X.Ratio != 3 {
			t.Errorf("merged = %+v, want name from-a, max_size 2, ratio 3", got.X)
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown key",
			src:  "max_sise: 3\n",
			want: []string{`line 1: max_sise: unknown key (did you mean "max_size"?)`},
		},
		{
			name: "unknown key in a list item and in an inline struct's block",
			src:  "servers:\n  - host: a\n    prot: 1\nverbos: true\n",
			want: []string{
				`line 3: servers[0].prot: unknown key (did you mean "port"?)`,
				`line 4: verbos: unknown key (did you mean "verbose"?)`,
			},
		},
		{
			name: "wrong kinds",
			src: `max_size: 1.5
timeout: 10
hide_os: yes
name: [x]
ratio: fast
small: 256
tags: a
limits: [1]
servers: {host: a}
optional: x
prefix: 10.0.0.1
secret: [300]
pair: [1]
`,
			want: []string{
				`line 1: max_size: want an integer, got "1.5"`,
				`line 2: timeout: want a duration such as "30s", "5m" or "1h30m", got "10"`,
				`line 3: hide_os: want true or false, got "yes"`,
				`line 4: name: want a string, got a list`,
				`line 5: ratio: want a number, got "fast"`,
				`line 6: small: 256 does not fit in uint8`,
				`line 7: tags: want a list, got "a"`,
				`line 8: limits: want a mapping, got a list`,
				`line 9: servers: want a list, got a mapping`,
				`line 10: optional: want an integer, got "x"`,
				`line 11: prefix: netip.ParsePrefix("10.0.0.1"): no '/'`,
				`line 12: secret[0]: 300 does not fit in uint8`,
				`line 13: pair: want a list of 2, got 1 items`,
			},
		},
		{
			name: "fields tagged - and unexported fields are not keys",
			src:  "ignored: x\ninternal: y\n",
			want: []string{
				`line 1: ignored: unknown key (valid keys: max_size, timeout, hide_os, name, ratio, small, tags, limits, servers, optional, prefix, extra, secret, pair, mode, verbose)`,
				`line 2: internal: unknown key (valid keys: max_size, timeout, hide_os, name, ratio, small, tags, limits, servers, optional, prefix, extra, secret, pair, mode, verbose)`,
			},
		},
		{
			name: "repeated key in a free-form value",
			src:  "extra:\n  a: 1\n  a: 2\n",
			want: []string{`line 3: extra.a: duplicate key (first set on line 2)`},
		},
		{
			name: "negative unsigned",
			src:  "servers: [{port: -1}]\n",
			want: []string{`line 1: servers[0].port: want an integer of 0 or more, got -1`},
		},
		{
			name: "duplicate keys at any depth",
			src:  "name: a\nservers:\n  - host: a\n    host: b\nname: b\n",
			want: []string{
				`line 4: servers[0].host: duplicate key (first set on line 3)`,
				`line 5: name: duplicate key (first set on line 1)`,
			},
		},
		{
			name: "unmarshaler errors keep their place",
			src:  "mode: slow-ish\n",
			want: []string{`line 1: mode: unknown mode "slow-ish"`},
		},
		{
			name: "nested Decode in an unmarshaler",
			src:  "mode:\n  name: x\n  levle: 1\n",
			want: []string{`line 3: mode.levle: unknown key (did you mean "level"?)`},
		},
		{
			name: "not a mapping",
			src:  "[1, 2]\n",
			want: []string{`line 1: want a mapping, got a list`},
		},
		{
			name: "bad merge",
			src:  "<<: 3\nname: x\n",
			want: []string{`line 1: a merge (<<) takes a mapping or a list of mappings, got "3"`},
		},
		{
			name: "key that is not a scalar",
			src:  "? [a]\n: 1\n",
			want: []string{`line 1: a key must be a plain name, got a list`},
		},
		{
			name: "alias reported where it is used",
			src:  "tags: &t {a: 1}\nlimits: {x: 1}\nname: *t\n",
			want: []string{
				`line 1: tags: want a list, got a mapping`,
				`line 3: name: want a string, got a mapping`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := defaults()
			err := Decode(node(t, tc.src), &o)
			got := errorLines(t, err)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// tree is a recursive type, the only way an alias can loop in a decode.
type tree struct {
	Kids []tree `yaml:"kids"`
}

func TestDecodeAliasLimits(t *testing.T) {
	t.Run("alias inside its own anchor", func(t *testing.T) {
		var tr tree
		err := Decode(node(t, "kids: &k\n  - kids: *k\n"), &tr)
		// The first use expands once; the loop shows on the way back in.
		want := []string{`line 2: kids[0].kids[0].kids: alias *k is used inside its own anchor`}
		if got := errorLines(t, err); !slices.Equal(got, want) {
			t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("exponential expansion", func(t *testing.T) {
		var b strings.Builder
		// a9 stands for 10^9 trees.
		b.WriteString("a0: &a0 {kids: []}\n")
		for i := 1; i <= 9; i++ {
			fmt.Fprintf(&b, "a%d: &a%d {kids: [", i, i)
			for j := range 10 {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "*a%d", i-1)
			}
			b.WriteString("]}\n")
		}
		var v map[string]tree
		err := Decode(node(t, b.String()), &v)
		es := Errors(err)
		if len(es) != 1 || !strings.Contains(es[0].Msg, "document too large") {
			t.Fatalf("Decode = %v, want one \"document too large\" error", err)
		}
	})
}

func TestDecodeArguments(t *testing.T) {
	n := node(t, "a: 1\n")
	for _, v := range []any{nil, moduleOptions{}, (*moduleOptions)(nil)} {
		if err := Decode(n, v); err == nil || len(Errors(err)) != 0 {
			t.Errorf("Decode(%T) = %v, want a plain usage error", v, err)
		}
	}
	o := defaults()
	if err := Decode(nil, &o); err != nil || !reflect.DeepEqual(o, defaults()) {
		t.Errorf("Decode(nil) = %v, changed %+v", err, o)
	}
}

func TestQualify(t *testing.T) {
	inner := errors.Join(
		&Error{Line: 3, Key: "max_size", Msg: "bad"},
		&Error{Line: 4, Key: "[0].x", Msg: "bad"},
		&Error{File: "other.yaml", Line: 5, Msg: "bad"},
		errors.New("plain"),
	)
	got := Qualify(inner, "parley.yaml", "modules.vcard").Error()
	want := strings.Join([]string{
		"parley.yaml:3: modules.vcard.max_size: bad",
		"parley.yaml:4: modules.vcard[0].x: bad",
		"other.yaml:5: modules.vcard: bad",
		"plain",
	}, "\n")
	if got != want {
		t.Errorf("Qualify:\n%s\nwant:\n%s", got, want)
	}
	if Qualify(nil, "f", "p") != nil {
		t.Errorf("Qualify(nil) is not nil")
	}
	var e *Error
	if q := Qualify(&Error{Line: 1, Msg: "m"}, "f", "p"); !errors.As(q, &e) || e.Key != "p" {
		t.Errorf("Qualify(single) = %v", q)
	}
	wrapped := fmt.Errorf("mysql: config: %w", errors.Join(
		&Error{Line: 7, Key: "dns", Msg: "unknown key"},
		&Error{Line: 8, Key: "pool", Msg: "bad"},
	))
	got = Qualify(wrapped, "parley.yaml", "storage.options").Error()
	want = "parley.yaml:7: storage.options.dns: unknown key\nparley.yaml:8: storage.options.pool: bad"
	if got != want {
		t.Errorf("Qualify(wrapped):\n%s\nwant:\n%s", got, want)
	}
	plain := fmt.Errorf("mysql: %w", errors.New("refused"))
	if Qualify(plain, "f", "p") != plain {
		t.Errorf("Qualify changed an error without *Error")
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{name: "full", err: Error{File: "p.yaml", Line: 14, Key: "listeners[1].adress", Msg: "unknown key"}, want: "p.yaml:14: listeners[1].adress: unknown key"},
		{name: "no line", err: Error{File: "p.yaml", Msg: "cannot read"}, want: "p.yaml: cannot read"},
		{name: "no file", err: Error{Line: 2, Key: "k", Msg: "m"}, want: "line 2: k: m"},
		{name: "nothing", err: Error{Key: "k", Msg: "m"}, want: "conf: k: m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	valid := []string{"address", "path", "type", "tls", "require_tls"}
	tests := []struct {
		word, want string
	}{
		{word: "adress", want: "address"},
		{word: "Address", want: "address"},
		{word: "pth", want: "path"},
		{word: "requiretls", want: "require_tls"},
		{word: "port", want: ""},
		{word: "zzzzzzz", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			if got := suggest(tc.word, valid); got != tc.want {
				t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
			}
		})
	}
}
