package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, errors.Join(&Error{File: path, Msg: "cannot read the configuration: " + msg, Err: err})
	}
	return Parse(path, data)
}

// Parse decodes and checks a configuration file's contents; name is the
// file's name in errors. It starts from Default, so every key the file
// leaves out keeps its default (a file with only `hosts:` still gets the
// default listeners), decodes strictly (unknown keys, repeated keys and
// values of the wrong kind are errors) and then checks the values (see
// Check). Module blocks are checked only for their structure here: their
// keys belong to the modules (DecodeModule, CheckModules).
//
// An empty file gives the defaults. On error Parse returns a nil Config and
// every error found, each an *Error naming the file, line and key, joined
// and sorted by line.
func Parse(name string, data []byte) (*Config, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	c := Default()
	c.File = name
	c.lines = map[string]int{}
	if root == nil {
		return c, nil
	}
	d := decoder{lines: c.lines}
	d.decode(root, "", reflect.ValueOf(c).Elem())
	for _, id := range sortedModuleIDs(c) {
		n := c.Modules[id]
		d.scan(&n, childKey("modules", id))
	}
	d.scan(&c.Storage.Options, "storage.options")
	errs := d.errs
	for _, e := range c.check() {
		if !coveredBy(e.Key, d.errs) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		for _, e := range errs {
			e.File = name
		}
		return nil, joinErrors(errs)
	}
	return c, nil
}

// coveredBy reports whether a check of key would only repeat a decoding
// error at or above it (a value that failed to decode is left unset).
func coveredBy(key string, decodeErrs []*Error) bool {
	for _, e := range decodeErrs {
		if underKey(key, e.Key) {
			return true
		}
	}
	return false
}

// yamlLine matches the position yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into its single document's root node, nil for an
// empty document.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, errors.Join(syntaxError(name, err))
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		return nil, errors.Join(syntaxError(name, err))
	default:
		return nil, errors.Join(&Error{File: name, Line: extra.Line, Msg: "a second YAML document: the configuration is one document"})
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

func syntaxError(name string, err error) *Error {
	e := &Error{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(oneLine(err), "yaml: "), Err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "invalid YAML: " + m[2]
	}
	return e
}

// Line returns the line of File on which key (a path such as
// "listeners[1].address") was set, or else the line of the nearest
// enclosing key that was; 0 when the file set none of them.
func (c *Config) Line(key string) int {
	for ; key != ""; key = parentKey(key) {
		if l, ok := c.lines[key]; ok {
			return l
		}
	}
	return 0
}

// Errorf returns an *Error about key at the line it was set on, for checks
// made outside this package (the server checks storage.backend against the
// registered backends this way).
func (c *Config) Errorf(key, format string, args ...any) *Error {
	return &Error{File: c.File, Line: c.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}
