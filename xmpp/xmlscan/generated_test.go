package xmlscan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/xmpp"
)

// xmlGen writes random well-formed, namespace-well-formed elements that
// restricted XML allows, to exercise the paths mutation fuzzing seldom
// reaches: prefixes declared at every level (and on the stream header),
// prefixed top-level elements, references, CDATA, non-ASCII names.
type xmlGen struct {
	r *rand.Rand
	b strings.Builder
}

var (
	genNames = []string{"a", "body", "x-y", "_z", "körper", "n.1", "r"}
	genURIs  = []string{"urn:a", "urn:b", "jabber:client", "urn:x&amp;y", ""}
	genText  = []string{"hi", " ", "&amp;", "&lt;&gt;", "&#233;", "&#x1F600;", "é", "]", "&gt;", "a>", "'\"", "\r\n", "\t", "<![CDATA[<&]]>", "<![CDATA[]]>"}
	genVals  = []string{"v", "", "&quot;", "a&#10;b", "a\nb", "&lt;&amp;>", "ü", "'"}
)

// element writes an element whose prefixes in scope are given, plus the
// ones the header declares.
func (g *xmlGen) element(depth int, prefixes []string, top bool) {
	name := genNames[g.r.IntN(len(genNames))]
	var decls []string
	if g.r.IntN(3) == 0 {
		decls = append(decls, fmt.Sprintf(" xmlns='%s'", genURIs[g.r.IntN(len(genURIs))]))
	}
	declared := map[string]bool{}
	for i := g.r.IntN(3); i > 0; i-- {
		p := fmt.Sprintf("p%d", g.r.IntN(4))
		if declared[p] {
			continue
		}
		declared[p] = true
		uri := genURIs[g.r.IntN(len(genURIs)-1)] // not the empty one
		decls = append(decls, fmt.Sprintf(" xmlns:%s='%s'", p, uri))
		prefixes = append(prefixes, p)
	}
	if len(prefixes) > 0 && g.r.IntN(3) == 0 {
		name = prefixes[g.r.IntN(len(prefixes))] + ":" + name
	}
	g.b.WriteString("<" + name)
	for _, d := range decls {
		g.b.WriteString(d)
	}
	used := map[string]bool{}
	for i := g.r.IntN(3); i > 0; i-- {
		an := []string{"id", "type", "k", "xml:lang"}[g.r.IntN(4)]
		if len(prefixes) > 0 && g.r.IntN(3) == 0 {
			// A prefix and the name it qualifies; two prefixes bound to
			// the same URI would make a duplicate, so keep one per name.
			an = prefixes[g.r.IntN(len(prefixes))] + ":q"
			if used["q"] {
				continue
			}
			used["q"] = true
		}
		if used[an] {
			continue
		}
		used[an] = true
		q := "'"
		v := genVals[g.r.IntN(len(genVals))]
		if strings.Contains(v, "'") {
			q = `"`
		}
		g.b.WriteString(" " + strings.Repeat(" \n\t", g.r.IntN(2)) + an + "=" + q + v + q)
	}
	if g.r.IntN(4) == 0 {
		g.b.WriteString("/>")
		return
	}
	g.b.WriteString(strings.Repeat(" ", g.r.IntN(2)) + ">")
	for i := g.r.IntN(4); i > 0; i-- {
		if depth < 4 && g.r.IntN(2) == 0 {
			g.element(depth+1, prefixes, false)
		} else {
			g.b.WriteString(genText[g.r.IntN(len(genText))])
		}
	}
	g.b.WriteString("</" + name + strings.Repeat("\n", g.r.IntN(2)) + ">")
}

// TestGeneratedXML scans random valid streams whole, one byte at a time and
// cut in two, and checks each element against encoding/xml as
// FuzzScanDifferential does.
func TestGeneratedXML(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	for seed := range uint64(n) {
		g := &xmlGen{r: rand.New(rand.NewPCG(seed, 7))}
		elems := 1 + g.r.IntN(3)
		for range elems {
			g.element(0, []string{"ext"}, true)
			g.b.WriteString(strings.Repeat(" ", g.r.IntN(2)))
		}
		doc := g.b.String()
		data := []byte(doc)
		bulk := scanAll(t, fuzzHeaderTCP, data, false, Limits{})
		if len(bulk) != elems+1 || bulk[elems] != "unexpected EOF" {
			t.Fatalf("seed %d: %q\nscanned: %q", seed, doc, bulk)
		}
		if one := scanAll(t, fuzzHeaderTCP, data, true, Limits{}); !slices.Equal(bulk, one) {
			t.Fatalf("seed %d: one-byte reads differ:\n%q\n%q", seed, bulk, one)
		}
		k := g.r.IntN(len(data) + 1)
		rd := &splitReader{parts: [][]byte{[]byte(fuzzHeaderTCP + doc[:k]), data[k:]}}
		if got := collect(t, newTestScanner(t, rd, Limits{})); len(got) != elems+1 {
			t.Fatalf("seed %d: split at %d: %q", seed, k, got)
		}
		differential(t, data)
	}
}

// differential is the body of FuzzScanDifferential.
func differential(t *testing.T, data []byte) {
	t.Helper()
	s := newTestScanner(t, strings.NewReader(fuzzHeaderTCP+string(data)), Limits{})
	ref := newRefReader(t, fuzzHeaderTCP+string(data))
	var st xmpp.Stanza
	for {
		err := s.Next(&st)
		if err != nil && !isStanzaError(err) {
			return
		}
		orig := ref.next()
		if err != nil {
			continue
		}
		wire := st.Append(nil, xmpp.NSClient)
		got := treeOf(t, wrapHeader+string(wire)+"</stream:stream>", "en")
		if len(got) != 1 || !slices.Equal(orig, got[0]) {
			t.Fatalf("meaning changed:\n  in: %q\n out: %q\noriginal tree:   %q\nre-encoded tree: %q", data, wire, orig, got)
		}
		checkHeaderFields(t, &st, wire)
		checkRoundTrip(t, &st, wire)
	}
}

func isStanzaError(err error) bool {
	_, ok := err.(*xmpp.StanzaError)
	return ok
}
