package server

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestImportTiers enforces DESIGN §2: a package imports only packages of
// its own tier or a lower one.
func TestImportTiers(t *testing.T) {
	const mod = "github.com/parley-im/parley/"
	tierOf := func(pkg string) int {
		p := strings.TrimPrefix(pkg, mod)
		switch first := strings.SplitN(p, "/", 2)[0]; first {
		case "xmpp", "conf":
			return 0
		case "compact", "storage":
			return 1
		case "modules", "plugins":
			return 2
		case "server":
			return 3
		case "cmd":
			return 4
		}
		return -1
	}
	out, err := exec.Command("go", "list", "-json", "github.com/parley-im/parley/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		from := tierOf(p.ImportPath)
		if from < 0 {
			t.Errorf("package %s is outside the tiers of DESIGN §2", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			if to := tierOf(imp); to > from {
				t.Errorf("%s (tier %d) imports %s (tier %d)", p.ImportPath, from, imp, to)
			}
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d packages checked; go list output looks wrong", checked)
	}
}
