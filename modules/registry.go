package modules

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrAccountExists is returned by Accounts.Create for a taken username.
var ErrAccountExists = errors.New("modules: account exists")

var (
	regMu    sync.Mutex
	registry = map[string]Info{}
)

// Register makes a module available. It is called from the module
// package's init and panics on an empty or duplicate ID or a missing New,
// or an ID that is not listed in Order: those are programming errors.
func Register(m Module) {
	info := m.Info()
	regMu.Lock()
	defer regMu.Unlock()
	switch {
	case info.ID == "":
		panic("modules: Register: empty ID")
	case info.New == nil:
		panic("modules: Register " + info.ID + ": no New")
	case !slices.Contains(Order, info.ID):
		panic("modules: Register " + info.ID + ": not listed in modules.Order")
	}
	if _, dup := registry[info.ID]; dup {
		panic("modules: Register: duplicate ID " + info.ID)
	}
	registry[info.ID] = info
}

// Registered returns the registered modules in chain order.
func Registered() []Info {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]Info, 0, len(registry))
	for _, id := range Order {
		if info, ok := registry[id]; ok {
			out = append(out, info)
		}
	}
	return out
}

// Lookup returns the registered module with id.
func Lookup(id string) (Info, error) {
	regMu.Lock()
	defer regMu.Unlock()
	info, ok := registry[id]
	if !ok {
		return Info{}, fmt.Errorf("modules: unknown module %q", id)
	}
	return info, nil
}
