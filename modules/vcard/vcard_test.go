package vcard

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strconv"
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
	return moduletest.NewStanza(xmpp.KindIQ, "v1", typ, from, to, payload)
}

func newHost(t *testing.T, withPEP bool) *moduletest.Host {
	t.Helper()
	h := moduletest.NewHost(t, "example.org")
	h.AddAccount(juliet, "pw")
	h.AddAccount(romeo, "pw")
	h.SetConfig(id, "max_bytes: 2048")
	h.Provision(new(Module))
	if withPEP {
		h.Provision(new(pep.Module))
	}
	return h
}

func condition(err error) xmpp.Condition {
	if se, ok := err.(*xmpp.StanzaError); ok {
		return se.Condition
	}
	return ""
}

func TestGetSet(t *testing.T) {
	h := newHost(t, false)
	card := `<vCard xmlns="vcard-temp"><FN>Juliet Capulet</FN><N><FAMILY>Capulet</FAMILY></N></vCard>`
	steps := []struct {
		name    string
		st      *xmpp.Stanza
		want    string
		wantErr xmpp.Condition
	}{
		{name: "own, none set", st: iq(juliet+"/balcony", "", "get", `<vCard xmlns="vcard-temp"/>`), want: `<vCard xmlns="vcard-temp"/>`},
		{name: "set own", st: iq(juliet+"/balcony", "", "set", card)},
		{name: "own, to the bare JID", st: iq(juliet+"/balcony", juliet, "get", `<vCard xmlns="vcard-temp"/>`), want: card},
		{name: "another user's", st: iq(romeo+"/orchard", juliet, "get", `<vCard xmlns="vcard-temp"/>`), want: card},
		{name: "set another user's", st: iq(romeo+"/orchard", juliet, "set", card), wantErr: xmpp.Forbidden},
		{name: "missing user", st: iq(romeo+"/orchard", "ghost@example.org", "get", `<vCard xmlns="vcard-temp"/>`), wantErr: xmpp.ServiceUnavailable},
		{name: "the server's", st: iq(romeo+"/orchard", "example.org", "get", `<vCard xmlns="vcard-temp"/>`), wantErr: xmpp.ItemNotFound},
		{name: "too large", st: iq(juliet+"/balcony", "", "set", `<vCard xmlns="vcard-temp"><DESC>`+strings.Repeat("x", 3000)+`</DESC></vCard>`),
			wantErr: xmpp.NotAcceptable},
		{name: "unchanged after refusals", st: iq(juliet+"/balcony", "", "get", `<vCard xmlns="vcard-temp"/>`), want: card},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.IQ(tc.st)
			if tc.wantErr != "" {
				if condition(err) != tc.wantErr {
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

// png is a small fake image; only its bytes and hash matter here.
var png = []byte("\x89PNG\r\n\x1a\nnot really an image")

func pngInfo() (b64, id string) {
	sum := sha1.Sum(png)
	return base64.StdEncoding.EncodeToString(png), hex.EncodeToString(sum[:])
}

func TestAvatarToVCard(t *testing.T) {
	h := newHost(t, true)
	b64, sum := pngInfo()
	card := `<vCard xmlns="vcard-temp"><FN>Juliet</FN></vCard>`
	if _, err := h.IQ(iq(juliet+"/balcony", "", "set", card)); err != nil {
		t.Fatal(err)
	}
	publish := func(node, id, payload string) {
		t.Helper()
		inner := `<pubsub xmlns="` + pep.NS + `"><publish node="` + node + `"><item id="` + id + `">` + payload + `</item></publish></pubsub>`
		if _, err := h.IQ(iq(juliet+"/balcony", "", "set", inner)); err != nil {
			t.Fatal(err)
		}
	}
	get := func() string {
		t.Helper()
		res, err := h.IQ(iq(romeo+"/orchard", juliet, "get", `<vCard xmlns="vcard-temp"/>`))
		if err != nil {
			t.Fatal(err)
		}
		return string(res)
	}
	publish(NSAvatarData, sum, `<data xmlns="`+NSAvatarData+`">`+b64+`</data>`)
	publish(NSAvatarMetadata, sum, `<metadata xmlns="`+NSAvatarMetadata+`"><info bytes="`+
		"27"+`" id="`+sum+`" type="image/png"/><info id="other" url="https://example.org/a.png" type="image/png"/></metadata>`)
	want := `<vCard xmlns="vcard-temp"><FN>Juliet</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>` + b64 + `</BINVAL></PHOTO></vCard>`
	if got := get(); got != want {
		t.Fatalf("vCard after avatar publish:\n got %s\nwant %s", got, want)
	}
	if v, _, _ := load(t.Context(), h.Storage(), xmpp.MustParseJID(juliet)); string(v) != card {
		t.Fatalf("stored vCard changed: %s", v)
	}
	publish(NSAvatarMetadata, "current", `<metadata xmlns="`+NSAvatarMetadata+`"/>`)
	if got := get(); got != card {
		t.Fatalf("vCard after avatar disabled: %s", got)
	}
	t.Run("hash mismatch ignored", func(t *testing.T) {
		publish(NSAvatarData, "0000", `<data xmlns="`+NSAvatarData+`">`+b64+`</data>`)
		publish(NSAvatarMetadata, "0000", `<metadata xmlns="`+NSAvatarMetadata+`"><info bytes="27" id="0000" type="image/png"/></metadata>`)
		if got := get(); strings.Contains(got, "PHOTO") {
			t.Fatalf("photo whose hash does not match its id: %s", got)
		}
	})
}

func TestVCardToAvatar(t *testing.T) {
	h := newHost(t, true)
	b64, sum := pngInfo()
	items := func(node string) string {
		t.Helper()
		res, err := h.IQ(iq(juliet+"/balcony", "", "get", `<pubsub xmlns="`+pep.NS+`"><items node="`+node+`"/></pubsub>`))
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		return string(res)
	}
	// Line breaks inside BINVAL, as many clients write them.
	wrapped := b64[:10] + "\n" + b64[10:]
	card := `<vCard xmlns="vcard-temp"><FN>Juliet</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>` + wrapped + `</BINVAL></PHOTO></vCard>`
	if _, err := h.IQ(iq(juliet+"/balcony", "", "set", card)); err != nil {
		t.Fatal(err)
	}
	if got := items(NSAvatarData); !strings.Contains(got, `<item id="`+sum+`"><data xmlns="`+NSAvatarData+`">`+b64+`</data></item>`) {
		t.Fatalf("data node: %s", got)
	}
	wantInfo := `<info bytes="` + strconv.Itoa(len(png)) + `" id="` + sum + `" type="image/png"/>`
	if got := items(NSAvatarMetadata); !strings.Contains(got, `<item id="`+sum+`">`) || !strings.Contains(got, wantInfo) {
		t.Fatalf("metadata node: %s, want %s", got, wantInfo)
	}
	if _, err := h.IQ(iq(juliet+"/balcony", "", "set", `<vCard xmlns="vcard-temp"><FN>Juliet</FN></vCard>`)); err != nil {
		t.Fatal(err)
	}
	if got := items(NSAvatarMetadata); !strings.Contains(got, `<metadata xmlns="`+NSAvatarMetadata+`"/>`) {
		t.Fatalf("metadata after the photo was removed: %s", got)
	}
}

func TestNoConversionWithoutPEP(t *testing.T) {
	h := newHost(t, false)
	b64, _ := pngInfo()
	card := `<vCard xmlns="vcard-temp"><PHOTO><TYPE>image/png</TYPE><BINVAL>` + b64 + `</BINVAL></PHOTO></vCard>`
	if _, err := h.IQ(iq(juliet+"/balcony", "", "set", card)); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := h.Storage().Scan(t.Context(), []byte("pep/"), nil, 0, func(_, _ []byte) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("avatar published without pep: %d keys, %v", n, err)
	}
}
