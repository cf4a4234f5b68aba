package pep

import (
	"fmt"
	"slices"
	"strconv"
)

// Access models (XEP-0060 §4.5) a PEP node may have.
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessRoster    = "roster"
	AccessWhitelist = "whitelist"
)

// Values of pubsub#send_last_published_item.
const (
	SendNever             = "never"
	SendOnSub             = "on_sub"
	SendOnSubAndPresence  = "on_sub_and_presence"
	formTypeNodeConfig    = "http://jabber.org/protocol/pubsub#node_config"
	formTypePublishOption = "http://jabber.org/protocol/pubsub#publish-options"
)

// MaxItemsLimit is the most items a node keeps: pubsub#max_items "max"
// means this, and larger numbers are lowered to it.
const MaxItemsLimit = 1000

// NodeConfig is a node's configuration (XEP-0060 §8.2), the subset PEP
// clients use. The zero value is not a valid configuration: start from
// DefaultConfig.
type NodeConfig struct {
	Title                string   `json:"title,omitempty"`
	Type                 string   `json:"type,omitempty"`
	AccessModel          string   `json:"access"`
	RosterGroups         []string `json:"groups,omitempty"`
	MaxItems             int      `json:"max"` // 0: MaxItemsLimit ("max")
	Persist              bool     `json:"persist"`
	SendLast             string   `json:"send_last"`
	DeliverNotifications bool     `json:"notify"`
	DeliverPayloads      bool     `json:"payloads"`
	NotifyRetract        bool     `json:"notify_retract"`
	NotifyDelete         bool     `json:"notify_delete"`
}

// DefaultConfig is what an auto-created node gets (XEP-0163 §8): presence
// access, one persistent item, last item sent on presence, payloads
// delivered.
func DefaultConfig() NodeConfig {
	return NodeConfig{
		AccessModel: AccessPresence, MaxItems: 1, Persist: true,
		SendLast: SendOnSubAndPresence, DeliverNotifications: true, DeliverPayloads: true,
		NotifyRetract: true, NotifyDelete: true,
	}
}

// limit is the number of items the node keeps.
func (c NodeConfig) limit() int {
	if c.MaxItems <= 0 || c.MaxItems > MaxItemsLimit {
		return MaxItemsLimit
	}
	return c.MaxItems
}

func (c NodeConfig) equal(o NodeConfig) bool {
	return c.Title == o.Title && c.Type == o.Type && c.AccessModel == o.AccessModel &&
		slices.Equal(c.RosterGroups, o.RosterGroups) && c.limit() == o.limit() &&
		c.Persist == o.Persist && c.SendLast == o.SendLast &&
		c.DeliverNotifications == o.DeliverNotifications && c.DeliverPayloads == o.DeliverPayloads &&
		c.NotifyRetract == o.NotifyRetract && c.NotifyDelete == o.NotifyDelete
}

// apply sets the fields of f that c knows; unknown fields (FORM_TYPE
// among them) are ignored. f is not modified.
// It reports the first value it cannot accept.
func (c *NodeConfig) apply(f Form) error {
	for v, vals := range f {
		one := ""
		if len(vals) > 0 {
			one = vals[0]
		}
		var err error
		switch v {
		case "pubsub#title":
			c.Title = one
		case "pubsub#type":
			c.Type = one
		case "pubsub#access_model":
			switch one {
			case AccessOpen, AccessPresence, AccessRoster, AccessWhitelist:
				c.AccessModel = one
			default:
				err = fmt.Errorf("access model %q is not supported", one)
			}
		case "pubsub#roster_groups_allowed":
			c.RosterGroups = slices.Sorted(slices.Values(vals))
		case "pubsub#max_items":
			if one == "max" {
				c.MaxItems = 0
				break
			}
			n, perr := strconv.Atoi(one)
			switch {
			case perr != nil || n < 1:
				err = fmt.Errorf("max_items %q is not a positive number or \"max\"", one)
			case n >= MaxItemsLimit:
				c.MaxItems = 0
			default:
				c.MaxItems = n
			}
		case "pubsub#persist_items":
			c.Persist, err = parseBool(one)
		case "pubsub#send_last_published_item":
			switch one {
			case SendNever, SendOnSub, SendOnSubAndPresence:
				c.SendLast = one
			default:
				err = fmt.Errorf("send_last_published_item %q is not supported", one)
			}
		case "pubsub#deliver_notifications":
			c.DeliverNotifications, err = parseBool(one)
		case "pubsub#deliver_payloads":
			c.DeliverPayloads, err = parseBool(one)
		case "pubsub#notify_retract":
			c.NotifyRetract, err = parseBool(one)
		case "pubsub#notify_delete":
			c.NotifyDelete, err = parseBool(one)
		case "pubsub#publish_model":
			if one != "publishers" {
				err = fmt.Errorf("publish_model %q is not supported", one)
			}
		}
		if err != nil {
			return fmt.Errorf("pep: %s: %w", v, err)
		}
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// appendForm appends the node configuration as a data form of type typ
// ("form" to be filled in, "result" in notifications).
func (c NodeConfig) appendForm(dst []byte, typ string) []byte {
	dst = append(dst, `<x xmlns="`+NSDataForms+`" type="`+typ+`">`...)
	dst = appendField(dst, "FORM_TYPE", "hidden", "", nil, formTypeNodeConfig)
	dst = appendField(dst, "pubsub#title", "text-single", "A friendly name for the node", nil, c.Title)
	dst = appendField(dst, "pubsub#type", "text-single", "The type of node data, usually the namespace of the payload", nil, c.Type)
	maxItems := "max"
	if c.limit() < MaxItemsLimit {
		maxItems = strconv.Itoa(c.MaxItems)
	}
	dst = appendField(dst, "pubsub#max_items", "text-single", "Max # of items to persist (or \"max\")", nil, maxItems)
	dst = appendField(dst, "pubsub#persist_items", "boolean", "Persist items to storage", nil, boolValue(c.Persist))
	dst = appendField(dst, "pubsub#access_model", "list-single", "Who may subscribe and retrieve items",
		[]string{AccessOpen, AccessPresence, AccessRoster, AccessWhitelist}, c.AccessModel)
	dst = appendField(dst, "pubsub#roster_groups_allowed", "list-multi", "Roster groups allowed to subscribe", nil, c.RosterGroups...)
	dst = appendField(dst, "pubsub#publish_model", "list-single", "Who may publish", []string{"publishers"}, "publishers")
	dst = appendField(dst, "pubsub#send_last_published_item", "list-single", "When to send the last published item",
		[]string{SendNever, SendOnSub, SendOnSubAndPresence}, c.SendLast)
	dst = appendField(dst, "pubsub#deliver_notifications", "boolean", "Deliver event notifications", nil, boolValue(c.DeliverNotifications))
	dst = appendField(dst, "pubsub#deliver_payloads", "boolean", "Deliver payloads with event notifications", nil, boolValue(c.DeliverPayloads))
	dst = appendField(dst, "pubsub#notify_retract", "boolean", "Notify subscribers when items are removed", nil, boolValue(c.NotifyRetract))
	dst = appendField(dst, "pubsub#notify_delete", "boolean", "Notify subscribers when the node is deleted", nil, boolValue(c.NotifyDelete))
	return append(dst, "</x>"...)
}

func appendField(dst []byte, v, typ, label string, options []string, values ...string) []byte {
	dst = append(dst, "<field"...)
	dst = appendAttr(dst, "var", v)
	dst = appendAttr(dst, "type", typ)
	if label != "" {
		dst = appendAttr(dst, "label", label)
	}
	dst = append(dst, '>')
	for _, o := range options {
		dst = append(dst, "<option><value>"...)
		dst = appendText(dst, o)
		dst = append(dst, "</value></option>"...)
	}
	for _, val := range values {
		if val == "" && len(values) == 1 && typ != "hidden" {
			break
		}
		dst = append(dst, "<value>"...)
		dst = appendText(dst, val)
		dst = append(dst, "</value>"...)
	}
	return append(dst, "</field>"...)
}
