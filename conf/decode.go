package conf

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Decode decodes node, a module's or a backend's block, into v, which must
// be a non-nil pointer (usually to a struct with yaml tags holding the
// defaults). Decoding is strict:
//
//   - a key v has no field for, a repeated key and a value of the wrong
//     kind are errors; a null value leaves the field as it was;
//   - a time.Duration takes Go syntax ("30s", "5m", "1h30m"), never a bare
//     number;
//   - integers must fit their field, bools are true or false;
//   - anchors, aliases and merge keys (<<) work as in YAML.
//
// Every error is an *Error with the node's line and a Key relative to node
// ("max_size", "servers[2].port"); all of them are returned, joined and
// sorted by line. Config.DecodeModule and Config.DecodeStorage add the file
// and the full key. A nil or empty node leaves v as it was. Fields of a type
// implementing yaml.Unmarshaler or encoding.TextUnmarshaler decode
// themselves. On error v may be partly filled.
func Decode(node *yaml.Node, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("conf: Decode needs a non-nil pointer, got %T", v)
	}
	if node == nil || node.Kind == 0 {
		return nil
	}
	var d decoder
	d.decode(node, "", rv.Elem())
	return joinErrors(d.errs)
}

// maxSteps bounds the nodes one decode visits, so that aliases nested into
// an exponential expansion ("billion laughs") end with an error. A real
// configuration has a few thousand values at most.
const maxSteps = 1 << 17

// decoder walks a yaml.Node tree into Go values, collecting every error.
type decoder struct {
	errs  []*Error
	lines map[string]int // key path → line of its key; nil when not wanted
	steps int
	// active maps the anchored nodes being expanded through an alias to
	// the alias's line, so an alias inside its own anchor is reported
	// instead of looping.
	active map[*yaml.Node]int
}

// fail records an error about node n. A node reached through an alias is
// reported at the alias, where the value is used.
func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{Line: d.line(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// failErr records err, returned by a type's own decoding, about node n.
func (d *decoder) failErr(n *yaml.Node, key string, err error) {
	d.errs = append(d.errs, &Error{Line: d.line(n), Key: key, Msg: oneLine(err), Err: err})
}

func (d *decoder) line(n *yaml.Node) int {
	if l, ok := d.active[n]; ok {
		return l
	}
	return n.Line
}

func (d *decoder) record(key string, line int) {
	if d.lines != nil {
		d.lines[key] = line
	}
}

// enter counts a visited node; false once the budget is spent.
func (d *decoder) enter(n *yaml.Node, key string) bool {
	d.steps++
	if d.steps == maxSteps {
		d.fail(n, key, "document too large: more than %d values after expanding aliases", maxSteps)
	}
	return d.steps < maxSteps
}

// expand calls f with the node an alias stands for (or n itself), refusing
// an alias used inside its own anchor.
func (d *decoder) expand(n *yaml.Node, key string, f func(*yaml.Node)) {
	if n.Kind != yaml.AliasNode {
		f(n)
		return
	}
	t := n.Alias
	if t == nil {
		d.fail(n, key, "alias *%s has no anchor", n.Value)
		return
	}
	if _, loop := d.active[t]; loop {
		d.fail(n, key, "alias *%s is used inside its own anchor", n.Value)
		return
	}
	if d.active == nil {
		d.active = map[*yaml.Node]int{}
	}
	d.active[t] = n.Line
	f(t)
	delete(d.active, t)
}

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
	unmarshaler  = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarsh  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

const (
	nullTag   = "!!null"
	boolTag   = "!!bool"
	intTag    = "!!int"
	floatTag  = "!!float"
	binaryTag = "!!binary"
)

// decode stores n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, key string, v reflect.Value) {
	if !d.enter(n, key) {
		return
	}
	switch n.Kind {
	case yaml.AliasNode:
		d.expand(n, key, func(t *yaml.Node) { d.decode(t, key, v) })
		return
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			d.decode(n.Content[0], key, v)
		}
		return
	}
	if isNull(n) {
		// A null value means "not set": the field keeps its default.
		// Pointers and interfaces become nil, as in yaml.v3.
		if k := v.Kind(); k == reflect.Pointer || k == reflect.Interface {
			v.SetZero()
		}
		return
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, key, v.Elem())
		return
	}
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case t == durationType:
		d.duration(n, key, v)
		return
	case reflect.PointerTo(t).Implements(unmarshaler) && v.CanAddr():
		d.unmarshaler(n, key, v.Addr().Interface().(yaml.Unmarshaler))
		return
	case reflect.PointerTo(t).Implements(textUnmarsh) && v.CanAddr():
		if !d.scalar(n, key, "a string") {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.failErr(n, key, err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.structure(n, key, v)
	case reflect.Map:
		d.mapping(n, key, v)
	case reflect.Slice:
		d.sequence(n, key, v)
	case reflect.Array:
		d.array(n, key, v)
	case reflect.String:
		if d.scalar(n, key, "a string") {
			if n.ShortTag() == binaryTag {
				var s string
				if err := n.Decode(&s); err != nil {
					d.fail(n, key, "%s", yamlMessage(err))
					return
				}
				v.SetString(s)
				return
			}
			v.SetString(n.Value)
		}
	case reflect.Bool:
		var b bool
		if d.typed(n, key, "true or false", &b, boolTag) {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if d.typed(n, key, "an integer", &i, intTag) {
			if v.OverflowInt(i) {
				d.fail(n, key, "%s does not fit in %s", n.Value, t)
				return
			}
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if strings.HasPrefix(n.Value, "-") && n.ShortTag() == intTag {
			d.fail(n, key, "want an integer of 0 or more, got %s", n.Value)
			return
		}
		var u uint64
		if d.typed(n, key, "an integer of 0 or more", &u, intTag) {
			if v.OverflowUint(u) {
				d.fail(n, key, "%s does not fit in %s", n.Value, t)
				return
			}
			v.SetUint(u)
		}
	case reflect.Float32, reflect.Float64:
		var f float64
		if d.typed(n, key, "a number", &f, floatTag, intTag) {
			if v.OverflowFloat(f) {
				d.fail(n, key, "%s does not fit in %s", n.Value, t)
				return
			}
			v.SetFloat(f)
		}
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.fail(n, key, "cannot decode into %s", t)
			return
		}
		// yaml.v3 decodes free-form values; a scan first reports repeated
		// keys the way the rest of the file does, with their own lines.
		before := len(d.errs)
		if d.scan(n, key); len(d.errs) > before {
			return
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, key, "%s", yamlMessage(err))
			return
		}
		if x == nil {
			v.SetZero()
			return
		}
		v.Set(reflect.ValueOf(x))
	default:
		d.fail(n, key, "cannot decode into %s", t)
	}
}

// scalar reports whether n is a scalar, recording an error if it is not.
func (d *decoder) scalar(n *yaml.Node, key, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.fail(n, key, "want %s, got %s", want, describe(n))
	return false
}

// typed decodes the scalar n into out if its resolved tag is one of tags.
func (d *decoder) typed(n *yaml.Node, key, want string, out any, tags ...string) bool {
	if !d.scalar(n, key, want) {
		return false
	}
	tag := n.ShortTag()
	ok := false
	for _, t := range tags {
		ok = ok || tag == t
	}
	if !ok {
		d.fail(n, key, "want %s, got %s", want, describe(n))
		return false
	}
	if err := n.Decode(out); err != nil {
		d.fail(n, key, "want %s, got %s (out of range)", want, describe(n))
		return false
	}
	return true
}

func (d *decoder) duration(n *yaml.Node, key string, v reflect.Value) {
	const want = `a duration such as "30s", "5m" or "1h30m"`
	if !d.scalar(n, key, want) {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n, key, "want %s, got %s", want, describe(n))
		return
	}
	v.SetInt(int64(dur))
}

// unmarshaler runs a type's own UnmarshalYAML. Errors it returns from a
// nested Decode keep their keys, placed under this one.
func (d *decoder) unmarshaler(n *yaml.Node, key string, u yaml.Unmarshaler) {
	err := u.UnmarshalYAML(n)
	if err == nil {
		return
	}
	if inner := Errors(Qualify(err, "", key)); len(inner) > 0 {
		d.errs = append(d.errs, inner...)
		return
	}
	d.failErr(n, key, err)
}

// pair is one key and value of a mapping, after merge keys are expanded.
type pair struct{ k, v *yaml.Node }

// pairs returns the entries of the mapping n in order, followed by those
// merged in with "<<" that n does not set itself (earlier merge sources win,
// as YAML specifies). A repeated key is an error; so is a key that is not a
// scalar.
func (d *decoder) pairs(n *yaml.Node, key string) []pair {
	var out []pair
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil && k.Alias.Kind == yaml.ScalarNode {
			k = k.Alias
		}
		if isMerge(k) {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, key, "a key must be a plain name, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, childKey(key, k.Value), "duplicate key (first set on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		d.merge(m, key, seen, &out)
	}
	return out
}

// merge appends to out the entries of the merge value m not yet in seen.
func (d *decoder) merge(m *yaml.Node, key string, seen map[string]int, out *[]pair) {
	if !d.enter(m, key) {
		return
	}
	d.expand(m, key, func(m *yaml.Node) {
		switch m.Kind {
		case yaml.MappingNode:
			for _, p := range d.pairs(m, key) {
				if _, ok := seen[p.k.Value]; !ok {
					seen[p.k.Value] = p.k.Line
					*out = append(*out, p)
				}
			}
		case yaml.SequenceNode:
			for _, item := range m.Content {
				if item.Kind == yaml.SequenceNode {
					d.fail(item, key, "a merge (<<) takes a mapping or a list of mappings, got a list inside the list")
					continue
				}
				d.merge(item, key, seen, out)
			}
		default:
			d.fail(m, key, "a merge (<<) takes a mapping or a list of mappings, got %s", describe(m))
		}
	})
}

func (d *decoder) structure(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "want a mapping, got %s", describe(n))
		return
	}
	fs := fieldsOf(v.Type())
	for _, p := range d.pairs(n, key) {
		name := p.k.Value
		child := childKey(key, name)
		f, ok := fs.byName[name]
		if !ok {
			if fs.rest != nil {
				d.mapEntry(p, child, fieldByIndex(v, fs.rest))
				continue
			}
			d.fail(p.k, child, "%s", unknownKey(name, fs.names))
			continue
		}
		d.record(child, p.k.Line)
		d.decode(p.v, child, fieldByIndex(v, f))
	}
}

// unknownKey is the message for a key a block does not have.
func unknownKey(name string, valid []string) string {
	if len(valid) == 0 {
		return "unknown key (this block takes no keys)"
	}
	if s := suggest(name, valid); s != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	return "unknown key (valid keys: " + strings.Join(valid, ", ") + ")"
}

func (d *decoder) mapping(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "want a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, key) {
		d.mapEntry(p, childKey(key, p.k.Value), v)
	}
}

// mapEntry decodes one entry into the map m, over an existing value for
// the same key if there is one.
func (d *decoder) mapEntry(p pair, child string, m reflect.Value) {
	t := m.Type()
	if m.IsNil() {
		m.Set(reflect.MakeMap(t))
	}
	k := reflect.New(t.Key()).Elem()
	if t.Key().Kind() == reflect.String {
		k.SetString(p.k.Value)
	} else {
		before := len(d.errs)
		d.decode(p.k, child, k)
		if len(d.errs) > before {
			return
		}
	}
	e := reflect.New(t.Elem()).Elem()
	if old := m.MapIndex(k); old.IsValid() {
		e.Set(old)
	}
	d.record(child, p.k.Line)
	d.decode(p.v, child, e)
	m.SetMapIndex(k, e)
}

func (d *decoder) sequence(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.Uint8 {
		// []byte takes a string, or base64 with the !!binary tag.
		if n.ShortTag() != binaryTag {
			v.SetBytes([]byte(n.Value))
			return
		}
		var s string
		if err := n.Decode(&s); err != nil {
			d.fail(n, key, "%s", yamlMessage(err))
			return
		}
		v.SetBytes([]byte(s))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, key, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := indexKey(key, i)
		d.record(child, item.Line)
		d.decode(item, child, s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) array(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, key, "want a list of %d, got %s", v.Len(), describe(n))
		return
	}
	if len(n.Content) != v.Len() {
		d.fail(n, key, "want a list of %d, got %d items", v.Len(), len(n.Content))
		return
	}
	for i, item := range n.Content {
		child := indexKey(key, i)
		d.record(child, item.Line)
		d.decode(item, child, v.Index(i))
	}
}

// scan checks the structure of a raw block (one decoded later, or never):
// repeated keys, keys that are not scalars, bad merges and merge loops. An
// alias is not followed: its anchor is scanned where it is defined.
func (d *decoder) scan(n *yaml.Node, key string) {
	if n == nil || !d.enter(n, key) {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.scan(c, key)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.scan(c, indexKey(key, i))
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if isMerge(n.Content[i]) {
				continue
			}
			d.scan(n.Content[i+1], childKey(key, n.Content[i].Value))
		}
		d.pairs(n, key)
	}
}

// isNull reports whether n is a null scalar ("", "~", "null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag
}

// isMerge reports whether k is the merge key "<<".
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}

// yamlMessage strips yaml.v3's prefixes and line numbers from an error's
// text; the Error around it carries the line already.
func yamlMessage(err error) string {
	text := strings.TrimPrefix(err.Error(), "yaml: ")
	text = strings.TrimPrefix(text, "unmarshal errors:\n")
	var parts []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "line "); ok {
			if _, after, ok := strings.Cut(rest, ": "); ok {
				line = after
			}
		}
		if line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

// oneLine is err's text with line breaks (from errors.Join) folded.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// fieldSet is how a struct type maps YAML keys to fields.
type fieldSet struct {
	byName map[string][]int // key → field index path
	names  []string         // keys in declaration order, for messages
	rest   []int            // an ",inline" map that takes unknown keys
}

var fieldCache sync.Map // reflect.Type → *fieldSet

// fieldsOf reads yaml tags the way yaml.v3 does: `yaml:"name,opts"`, "-"
// skips a field, an untagged field's key is its name in lower case, and
// ",inline" lifts an embedded struct's fields (or makes a map take the keys
// no field claims).
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string][]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "-" || (!f.IsExported() && !(f.Anonymous && strings.Contains(tag, "inline"))) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			index := append(append([]int(nil), prefix...), i)
			if strings.Contains(","+opts+",", ",inline,") {
				switch f.Type.Kind() {
				case reflect.Struct:
					walk(f.Type, index)
					continue
				case reflect.Map:
					fs.rest = index
					continue
				}
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := fs.byName[name]; dup {
				continue // the first field declared wins
			}
			fs.byName[name] = index
			fs.names = append(fs.names, name)
		}
	}
	walk(t, nil)
	actual, _ := fieldCache.LoadOrStore(t, fs)
	return actual.(*fieldSet)
}

// fieldByIndex is v.FieldByIndex for the paths fieldsOf builds (which never
// pass through a pointer).
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for _, i := range index {
		v = v.Field(i)
	}
	return v
}
