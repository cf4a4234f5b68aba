package conf

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Module reports whether module id is enabled and returns its options block:
// the module's mapping without its "enabled" key (merge keys expanded), or
// nil when there are no options. A module is enabled unless its entry is
// `false` or has `enabled: false`; one not mentioned at all is enabled with
// its defaults.
func (c *Config) Module(id string) (enabled bool, block *yaml.Node) {
	raw, ok := c.Modules[id]
	if !ok {
		return true, nil
	}
	n := resolveAlias(&raw)
	switch {
	case n.Kind == 0 || isNull(n):
		return true, nil
	case n.Kind == yaml.ScalarNode && n.ShortTag() == boolTag:
		return boolValue(n), nil
	case n.Kind != yaml.MappingNode:
		// Parse rejects this; a Config built in code gets it back so that
		// DecodeModule reports it.
		return true, n
	}
	enabled = true
	var d decoder
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: n.Style, Line: n.Line, Column: n.Column}
	for _, p := range d.pairs(n, "") {
		if p.k.Value == "enabled" {
			if v := resolveAlias(p.v); v.Kind == yaml.ScalarNode && v.ShortTag() == boolTag {
				enabled = boolValue(v)
			}
			continue
		}
		out.Content = append(out.Content, p.k, p.v)
	}
	if len(out.Content) == 0 {
		return enabled, nil
	}
	return enabled, out
}

// boolValue is the value of a scalar whose tag is !!bool.
func boolValue(n *yaml.Node) bool {
	var b bool
	_ = n.Decode(&b)
	return b
}

// CheckModules reports every module block whose ID is not in known (the
// IDs of the registered modules), each an *Error at the line of its key.
func (c *Config) CheckModules(known []string) error {
	var errs []*Error
	sortedKnown := slices.Sorted(slices.Values(known))
	for _, id := range sortedModuleIDs(c) {
		if slices.Contains(known, id) {
			continue
		}
		msg := "unknown module"
		if s := suggest(id, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			msg += " (known modules: " + strings.Join(sortedKnown, ", ") + ")"
		}
		errs = append(errs, c.Errorf(childKey("modules", id), "%s", msg))
	}
	return joinErrors(errs)
}

// DecodeModule decodes module id's options block (see Module) into v with
// Decode, reporting errors with the file and full keys, such as
// "parley.yaml:31: modules.vcard.max_size: want an integer, got \"big\"".
// With no block v keeps its defaults. A server gives a module that never
// asks for its configuration a DecodeModule(id, &struct{}{}), so that keys
// in its block are still reported as unknown.
func (c *Config) DecodeModule(id string, v any) error {
	prefix := childKey("modules", id)
	if raw, ok := c.Modules[id]; ok {
		var d decoder
		d.scan(&raw, "")
		if len(d.errs) > 0 {
			return Qualify(joinErrors(d.errs), c.File, prefix)
		}
	}
	_, block := c.Module(id)
	return Qualify(Decode(block, v), c.File, prefix)
}

// DecodeStorage decodes the storage options block into v with Decode,
// reporting errors with the file and full keys ("storage.options.dsn").
// With no block v keeps its defaults.
func (c *Config) DecodeStorage(v any) error {
	var d decoder
	d.scan(&c.Storage.Options, "")
	if len(d.errs) > 0 {
		return Qualify(joinErrors(d.errs), c.File, "storage.options")
	}
	return Qualify(Decode(&c.Storage.Options, v), c.File, "storage.options")
}

// sortedModuleIDs lists the module IDs in the order of their lines in the
// file (by name for a Config built in code), so errors come out stably.
func sortedModuleIDs(c *Config) []string {
	ids := make([]string, 0, len(c.Modules))
	for id := range c.Modules {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(c.Line(childKey("modules", a)), c.Line(childKey("modules", b))), strings.Compare(a, b))
	})
	return ids
}

// resolveAlias returns the node an alias stands for, or n.
func resolveAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}
