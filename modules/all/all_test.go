package all

import (
	"bufio"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/modules"
)

const modulePath = "github.com/parley-im/parley/modules/"

// notModules are the directories under modules/ that hold no module.
var notModules = []string{"all", "moduletest"}

// allowedImports lists, for each module package another module may import,
// the modules allowed to: presence, pep and blocking read rosters (blocking
// for the presence XEP-0191 §3.3 sends to contacts), pep reads the entity
// capabilities of sessions, disco reads rosters for the subscriptions
// XEP-0030 §8 asks about, caps hashes disco's answer, and vcard and private
// publish through pep (XEP-0398 avatars, XEP-0402 §5.3 bookmarks). Every
// other dependency between modules goes through modules.Host.
var allowedImports = map[string][]string{
	"roster": {"presence", "pep", "disco", "blocking"},
	"caps":   {"pep"},
	"disco":  {"caps"},
	"pep":    {"vcard", "private"},
}

// readmeSections are the sections every module README has, in order.
var readmeSections = []string{"Name", "Specs", "Description", "Configuration", "Storage", "Examples"}

func TestEveryModuleRegisteredOnce(t *testing.T) {
	reg := modules.Registered()
	var ids []string
	for _, info := range reg {
		ids = append(ids, info.ID)
	}
	for _, id := range modules.Order {
		t.Run(id, func(t *testing.T) {
			n := 0
			for _, got := range ids {
				if got == id {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("registered %d times, want once", n)
			}
			info, err := modules.Lookup(id)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.New().Info().ID; got != id {
				t.Errorf("New().Info().ID = %q", got)
			}
		})
	}
	if len(ids) != len(modules.Order) {
		t.Errorf("registered %v, want exactly %v", ids, modules.Order)
	}
}

// moduleDirs returns the module directories next to this package.
func moduleDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(notModules, e.Name()) {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}

func TestModuleDirsMatchOrder(t *testing.T) {
	dirs := moduleDirs(t)
	for _, d := range dirs {
		if !slices.Contains(modules.Order, d) {
			t.Errorf("modules/%s is not listed in modules.Order", d)
		}
	}
	for _, id := range modules.Order {
		if !slices.Contains(dirs, id) {
			t.Errorf("modules.Order lists %s, which has no directory", id)
		}
	}
}

func TestREADMEs(t *testing.T) {
	for _, id := range modules.Order {
		t.Run(id, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", id, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var found []string
			var nameText strings.Builder
			section := ""
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := sc.Text()
				if h, ok := strings.CutPrefix(line, "## "); ok {
					section = strings.TrimSpace(h)
					found = append(found, section)
					continue
				}
				if section == "Name" {
					nameText.WriteString(line)
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			var inOrder []string
			for _, s := range found {
				if slices.Contains(readmeSections, s) {
					inOrder = append(inOrder, s)
				}
			}
			if !slices.Equal(inOrder, readmeSections) {
				t.Errorf("sections %v, want %v in this order", found, readmeSections)
			}
			if !strings.Contains(nameText.String(), "*"+id+"*") {
				t.Errorf("the Name section does not name *%s*", id)
			}
		})
	}
}

func TestModuleImports(t *testing.T) {
	for _, dir := range moduleDirs(t) {
		t.Run(dir, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, file := range files {
				if strings.HasSuffix(file, "_test.go") {
					continue // tests may provision the modules they work with
				}
				f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range f.Imports {
					path, _ := strconv.Unquote(imp.Path.Value)
					dep, ok := strings.CutPrefix(path, modulePath)
					if !ok || slices.Contains(notModules, dep) {
						continue
					}
					if !slices.Contains(allowedImports[dep], dir) {
						t.Errorf("%s imports %s: modules talk through modules.Host, except %v", filepath.Base(file), path, allowedImports)
					}
				}
			}
		})
	}
}
