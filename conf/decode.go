package conf

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Decode decodes node into v strictly: a key v has no field for is an
// error naming its line.
func Decode(node *yaml.Node, v any) error {
	if node == nil || node.Kind == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(node); err != nil {
		return fmt.Errorf("conf: line %d: %w", node.Line, err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("conf: block at line %d: %w", node.Line, err)
	}
	return nil
}
