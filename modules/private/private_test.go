package private

import (
	"strings"
	"testing"

	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/modules/pep"
	"github.com/parley-im/parley/xmpp"
)

const (
	juliet = "juliet@example.org"
	romeo  = "romeo@example.org"
)

func iq(from, to, typ, payload string) *xmpp.Stanza {
	return moduletest.NewStanza(xmpp.KindIQ, "p1", typ, from, to, payload)
}

func query(children string) string { return `<query xmlns="` + NS + `">` + children + `</query>` }

func newHost(t *testing.T, withPEP bool) *moduletest.Host {
	t.Helper()
	h := moduletest.NewHost(t, "example.org")
	h.Provision(new(Module))
	if withPEP {
		h.Provision(new(pep.Module))
	}
	return h
}

func TestPrivateStorage(t *testing.T) {
	h := newHost(t, false)
	prefs := `<exodus xmlns="exodus:prefs"><defaultnick>Hamlet</defaultnick></exodus>`
	steps := []struct {
		name    string
		st      *xmpp.Stanza
		want    string
		wantErr xmpp.Condition
	}{
		{name: "nothing stored: the empty element", st: iq(juliet+"/b", "", "get", query(`<exodus xmlns="exodus:prefs"/>`)),
			want: query(`<exodus xmlns="exodus:prefs"/>`)},
		{name: "set two elements", st: iq(juliet+"/b", "", "set", query(prefs+`<notes xmlns="storage:rosternotes"><note jid="a@b">x</note></notes>`))},
		{name: "get one back", st: iq(juliet+"/b", "", "get", query(`<exodus xmlns="exodus:prefs"/>`)), want: query(prefs)},
		{name: "by name and namespace", st: iq(juliet+"/b", "", "get", query(`<other xmlns="exodus:prefs"/>`)),
			want: query(`<other xmlns="exodus:prefs"/>`)},
		{name: "prefixed child made self-contained", st: iq(juliet+"/b", juliet, "set", query(`<e:x xmlns:e="urn:e"><e:y/></e:x>`))},
		{name: "prefixed child read back", st: iq(juliet+"/b", "", "get", query(`<x xmlns="urn:e"/>`)),
			want: query(`<x xmlns="urn:e"><y/></x>`)},
		{name: "another user's", st: iq(romeo+"/o", juliet, "get", query(`<exodus xmlns="exodus:prefs"/>`)), wantErr: xmpp.Forbidden},
		{name: "reserved namespace", st: iq(juliet+"/b", "", "set", query(`<query xmlns="jabber:iq:roster"/>`)), wantErr: xmpp.NotAcceptable},
		{name: "no namespace of its own", st: iq(juliet+"/b", "", "set", query(`<thing/>`)), wantErr: xmpp.NotAcceptable},
		{name: "empty query", st: iq(juliet+"/b", "", "get", query("")), wantErr: xmpp.NotAcceptable},
		{name: "get of two elements", st: iq(juliet+"/b", "", "get", query(`<a xmlns="urn:a"/><b xmlns="urn:b"/>`)), wantErr: xmpp.BadRequest},
		{name: "other users stay apart", st: iq(romeo+"/o", "", "get", query(`<exodus xmlns="exodus:prefs"/>`)),
			want: query(`<exodus xmlns="exodus:prefs"/>`)},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.IQ(tc.st)
			if tc.wantErr != "" {
				if se, ok := err.(*xmpp.StanzaError); !ok || se.Condition != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(res) != tc.want {
				t.Fatalf("got  %s\nwant %s", res, tc.want)
			}
		})
	}
}

func pubsub(h *moduletest.Host, t *testing.T, typ, inner string) string {
	t.Helper()
	res, err := h.IQ(iq(juliet+"/b", "", typ, `<pubsub xmlns="`+pep.NS+`">`+inner+`</pubsub>`))
	if err != nil {
		t.Fatalf("%s: %v", inner, err)
	}
	return string(res)
}

func TestLegacyBookmarksToPEP(t *testing.T) {
	h := newHost(t, true)
	set := func(conferences string) {
		t.Helper()
		st := iq(juliet+"/b", "", "set", query(`<storage xmlns="storage:bookmarks">`+conferences+`</storage>`))
		if _, err := h.IQ(st); err != nil {
			t.Fatal(err)
		}
	}
	set(`<conference jid="council@muc.example.org" name="Council" autojoin="true"><nick>Puck</nick></conference>` +
		`<conference jid="orchard@muc.example.org" name="Orchard"><password>s3cret</password></conference>` +
		`<url name="Site" url="https://example.org/"/>`)
	items := pubsub(h, t, "get", `<items node="urn:xmpp:bookmarks:1"/>`)
	for _, want := range []string{
		`<item id="council@muc.example.org"><conference xmlns="urn:xmpp:bookmarks:1" name="Council" autojoin="true"><nick>Puck</nick></conference></item>`,
		`<item id="orchard@muc.example.org"><conference xmlns="urn:xmpp:bookmarks:1" name="Orchard"><password>s3cret</password></conference></item>`,
	} {
		if !strings.Contains(items, want) {
			t.Fatalf("PEP items lack %s:\n%s", want, items)
		}
	}
	res, err := h.IQ(iq(juliet+"/b", "", "get", `<pubsub xmlns="`+pep.NSOwner+`"><configure node="urn:xmpp:bookmarks:1"/></pubsub>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<value>whitelist</value></field>", "<value>max</value></field>", "<value>never</value></field>"} {
		if !strings.Contains(string(res), want) {
			t.Fatalf("node configuration lacks %s: %s", want, res)
		}
	}

	// A client of XEP-0402 adds extensions; the legacy client renames the
	// orchard and drops the council.
	pubsub(h, t, "set", `<publish node="urn:xmpp:bookmarks:1"><item id="orchard@muc.example.org">`+
		`<conference xmlns="urn:xmpp:bookmarks:1" name="Orchard"><password>s3cret</password>`+
		`<extensions><state xmlns="urn:example:client" pinned="1"/></extensions></conference></item></publish>`)
	set(`<conference jid="orchard@muc.example.org" name="The Orchard"><password>s3cret</password></conference>` +
		`<conference jid="balcony@muc.example.org" name="Balcony"/>`)
	items = pubsub(h, t, "get", `<items node="urn:xmpp:bookmarks:1"/>`)
	if strings.Contains(items, "council@") {
		t.Fatalf("removed bookmark still published: %s", items)
	}
	if !strings.Contains(items, `name="The Orchard"><password>s3cret</password><extensions><state xmlns="urn:example:client" pinned="1"/></extensions>`) {
		t.Fatalf("renamed bookmark lost its extensions: %s", items)
	}

	t.Run("unchanged bookmarks are not republished", func(t *testing.T) {
		// Re-publishing moves an item to the end: the orchard changes and
		// moves behind the balcony, which must stay where it is although
		// the list names it last.
		set(`<conference jid="orchard@muc.example.org" name="The Orchard" autojoin="1"><password>s3cret</password></conference>` +
			`<conference jid="balcony@muc.example.org" name="Balcony"/>`)
		items := pubsub(h, t, "get", `<items node="urn:xmpp:bookmarks:1"/>`)
		o, b := strings.Index(items, `"orchard@`), strings.Index(items, `"balcony@`)
		if o < 0 || b < 0 || b > o || !strings.Contains(items, `name="The Orchard" autojoin="true"`) {
			t.Fatalf("items after a change of the orchard only: %s", items)
		}
	})
}

func TestPEPBookmarksToLegacy(t *testing.T) {
	h := newHost(t, true)
	// The legacy copy holds a URL bookmark XEP-0402 cannot represent.
	if _, err := h.IQ(iq(juliet+"/b", "", "set", query(`<storage xmlns="storage:bookmarks"><url name="Site" url="https://example.org/"/></storage>`))); err != nil {
		t.Fatal(err)
	}
	pubsub(h, t, "set", `<publish node="urn:xmpp:bookmarks:1"><item id="theplay@muc.example.org">`+
		`<conference xmlns="urn:xmpp:bookmarks:1" name="The Play&apos;s the Thing" autojoin="1"><nick>JC</nick>`+
		`<extensions><x xmlns="urn:example"/></extensions></conference></item></publish>`)
	res, err := h.IQ(iq(juliet+"/b", "", "get", query(`<storage xmlns="storage:bookmarks"/>`)))
	if err != nil {
		t.Fatal(err)
	}
	want := query(`<storage xmlns="storage:bookmarks">` +
		`<conference jid="theplay@muc.example.org" name="The Play&apos;s the Thing" autojoin="true"><nick>JC</nick></conference>` +
		`<url name="Site" url="https://example.org/"/></storage>`)
	if string(res) != want {
		t.Fatalf("got  %s\nwant %s", res, want)
	}
}

func TestBookmarksWithoutPEP(t *testing.T) {
	h := newHost(t, false)
	stored := `<storage xmlns="storage:bookmarks"><conference jid="a@muc.example.org" name="A"/></storage>`
	if _, err := h.IQ(iq(juliet+"/b", "", "set", query(stored))); err != nil {
		t.Fatal(err)
	}
	res, err := h.IQ(iq(juliet+"/b", "", "get", query(`<storage xmlns="storage:bookmarks"/>`)))
	if err != nil || string(res) != query(stored) {
		t.Fatalf("got %s, %v", res, err)
	}
}
