package conf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const modulesSrc = `modules:
  vcard:
    max_size: 1024
    timeout: 3s
  version: {hide_os: true, enabled: true}
  register: false
  mam: {enabled: false}
  ping:
  carbons: {}
  blocking: true
  muc: &muc {enabled: false, rooms: 3}
  muc_light:
    <<: *muc
    enabled: true
  bad:
    max_size: big
    tiemout: 1s
`

func TestModule(t *testing.T) {
	c, err := Parse("parley.yaml", []byte(modulesSrc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		enabled bool
		keys    []string // of the block; nil for no block
	}{
		{id: "vcard", enabled: true, keys: []string{"max_size", "timeout"}},
		{id: "version", enabled: true, keys: []string{"hide_os"}},
		{id: "register", enabled: false},
		{id: "mam", enabled: false},
		{id: "ping", enabled: true},
		{id: "carbons", enabled: true},
		{id: "blocking", enabled: true},
		{id: "muc", enabled: false, keys: []string{"rooms"}},
		{id: "muc_light", enabled: true, keys: []string{"rooms"}},
		{id: "not_mentioned", enabled: true},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			enabled, block := c.Module(tc.id)
			if enabled != tc.enabled {
				t.Errorf("enabled = %v, want %v", enabled, tc.enabled)
			}
			var keys []string
			if block != nil {
				if block.Kind != yaml.MappingNode {
					t.Fatalf("block kind = %v, want a mapping", block.Kind)
				}
				for i := 0; i < len(block.Content); i += 2 {
					keys = append(keys, block.Content[i].Value)
				}
			}
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("block keys = %v, want %v", keys, tc.keys)
			}
		})
	}
	// Module does not change the configuration it reads.
	if _, block := c.Module("version"); block == nil || len(c.Modules["version"].Content) != 4 {
		t.Errorf("Module changed the stored block: %+v", c.Modules["version"])
	}
}

type vcardOptions struct {
	MaxSize int           `yaml:"max_size"`
	Timeout time.Duration `yaml:"timeout"`
}

func TestDecodeModule(t *testing.T) {
	c, err := Parse("parley.yaml", []byte(modulesSrc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   string
		v    any
		want any
		errs []string
	}{
		{
			name: "options over the defaults",
			id:   "vcard",
			v:    &vcardOptions{MaxSize: 1, Timeout: time.Second},
			want: &vcardOptions{MaxSize: 1024, Timeout: 3 * time.Second},
		},
		{
			name: "no block keeps the defaults",
			id:   "ping",
			v:    &vcardOptions{MaxSize: 1},
			want: &vcardOptions{MaxSize: 1},
		},
		{
			name: "not mentioned keeps the defaults",
			id:   "nothing",
			v:    &vcardOptions{MaxSize: 1},
			want: &vcardOptions{MaxSize: 1},
		},
		{
			name: "errors carry the file and the full key",
			id:   "bad",
			v:    &vcardOptions{},
			errs: []string{
				`parley.yaml:16: modules.bad.max_size: want an integer, got "big"`,
				`parley.yaml:17: modules.bad.tiemout: unknown key (did you mean "timeout"?)`,
			},
		},
		{
			name: "a module without options rejects every key",
			id:   "version",
			v:    &struct{}{},
			errs: []string{`parley.yaml:5: modules.version.hide_os: unknown key (this block takes no keys)`},
		},
		{
			name: "enabled is not the module's key",
			id:   "muc_light",
			v:    &struct{ Rooms int }{},
			want: &struct{ Rooms int }{Rooms: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.DecodeModule(tc.id, tc.v)
			if got := errorLines(t, err); !slices.Equal(got, tc.errs) {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errs, "\n"))
			}
			if tc.want != nil && !reflect.DeepEqual(tc.v, tc.want) {
				t.Errorf("decoded %+v, want %+v", tc.v, tc.want)
			}
		})
	}
}

func TestDecodeModuleBuiltInCode(t *testing.T) {
	// A Config assembled in code, with a block Parse would have refused:
	// DecodeModule still reports it instead of ignoring it.
	c := Default()
	c.Modules = map[string]yaml.Node{
		"dup":    *node(t, "a: 1\na: 2\n"),
		"scalar": *node(t, "yes\n"),
	}
	tests := []struct {
		id   string
		want []string
	}{
		{id: "dup", want: []string{`line 2: modules.dup.a: duplicate key (first set on line 1)`}},
		{id: "scalar", want: []string{`line 1: modules.scalar: want a mapping, got "yes"`}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got := errorLines(t, c.DecodeModule(tc.id, &struct{ A int }{}))
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCheckModules(t *testing.T) {
	c, err := Parse("parley.yaml", []byte("modules:\n  vcard: {}\n  vcrad: {}\n  zzz: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		known []string
		want  []string
	}{
		{name: "all known", known: []string{"zzz", "vcard", "vcrad", "other"}},
		{
			name:  "typo and stranger",
			known: []string{"vcard", "ping", "disco"},
			want: []string{
				`parley.yaml:3: modules.vcrad: unknown module (did you mean "vcard"?)`,
				`parley.yaml:4: modules.zzz: unknown module (known modules: disco, ping, vcard)`,
			},
		},
		{
			name: "nothing registered",
			want: []string{
				`parley.yaml:2: modules.vcard: unknown module`,
				`parley.yaml:3: modules.vcrad: unknown module`,
				`parley.yaml:4: modules.zzz: unknown module`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := errorLines(t, c.CheckModules(tc.known))
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

type mysqlOptions struct {
	DSN      string `yaml:"dsn"`
	MaxConns int    `yaml:"max_conns"`
}

func TestDecodeStorage(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want mysqlOptions
		errs []string
	}{
		{
			name: "options",
			src:  "storage:\n  backend: mysql\n  options:\n    dsn: \"u:p@tcp(db:3306)/parley\"\n",
			want: mysqlOptions{DSN: "u:p@tcp(db:3306)/parley", MaxConns: 10},
		},
		{
			name: "no options",
			src:  "storage: {backend: mysql}\n",
			want: mysqlOptions{MaxConns: 10},
		},
		{
			name: "null options",
			src:  "storage: {backend: mysql, options: ~}\n",
			want: mysqlOptions{MaxConns: 10},
		},
		{
			name: "errors",
			src:  "storage:\n  backend: mysql\n  options:\n    dns: x\n    max_conns: -1.5\n",
			errs: []string{
				`parley.yaml:4: storage.options.dns: unknown key (did you mean "dsn"?)`,
				`parley.yaml:5: storage.options.max_conns: want an integer, got "-1.5"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("parley.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			got := mysqlOptions{MaxConns: 10}
			err = c.DecodeStorage(&got)
			if lines := errorLines(t, err); !slices.Equal(lines, tc.errs) {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.errs, "\n"))
			}
			if err == nil && got != tc.want {
				t.Errorf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}
