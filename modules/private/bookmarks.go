package private

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"

	"github.com/parley-im/parley/modules/pep"
	"github.com/parley-im/parley/xmpp"
)

// Bookmark namespaces: XEP-0048 in private storage, XEP-0402 in PEP, and
// the account feature announcing that the server keeps them in step.
const (
	NSBookmarks      = "storage:bookmarks"
	NSBookmarks2     = "urn:xmpp:bookmarks:1"
	FeatureBookmarks = NSBookmarks2 + "#compat"
)

// bookmarkOptions are the XEP-0402 node settings used when the server
// publishes on the user's behalf.
var bookmarkOptions = pep.Form{
	"pubsub#persist_items":            {"true"},
	"pubsub#max_items":                {"max"},
	"pubsub#send_last_published_item": {"never"},
	"pubsub#access_model":             {"whitelist"},
}

// bookmark is one room bookmark, in either format.
type bookmark struct {
	jid        string // the item id in XEP-0402
	name       string
	autojoin   bool
	nick       string
	password   string
	extensions []byte // XEP-0402 <extensions/> content, kept as is
}

func (b bookmark) equal(o bookmark) bool {
	return b.name == o.name && b.autojoin == o.autojoin && b.nick == o.nick &&
		b.password == o.password && bytes.Equal(b.extensions, o.extensions)
}

// legacyStorage is a XEP-0048 <storage xmlns='storage:bookmarks'/>.
type legacyStorage struct {
	Conferences []struct {
		JID      string `xml:"jid,attr"`
		Name     string `xml:"name,attr"`
		Autojoin string `xml:"autojoin,attr"`
		Nick     string `xml:"storage:bookmarks nick"`
		Password string `xml:"storage:bookmarks password"`
	} `xml:"storage:bookmarks conference"`
}

// conference2 is a XEP-0402 <conference xmlns='urn:xmpp:bookmarks:1'/>.
type conference2 struct {
	Name       string `xml:"name,attr"`
	Autojoin   string `xml:"autojoin,attr"`
	Nick       string `xml:"urn:xmpp:bookmarks:1 nick"`
	Password   string `xml:"urn:xmpp:bookmarks:1 password"`
	Extensions *struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"urn:xmpp:bookmarks:1 extensions"`
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// fromItem reads a XEP-0402 item.
func fromItem(it pep.Item) (bookmark, error) {
	var c conference2
	if err := xml.Unmarshal(it.Payload, &c); err != nil {
		return bookmark{}, err
	}
	b := bookmark{jid: it.ID, name: c.Name, autojoin: isTrue(c.Autojoin), nick: c.Nick, password: c.Password}
	if c.Extensions != nil {
		b.extensions = bytes.TrimSpace(c.Extensions.Inner)
	}
	return b, nil
}

// payload returns the XEP-0402 conference element of b.
func (b bookmark) payload() []byte {
	out := []byte(`<conference xmlns="` + NSBookmarks2 + `"`)
	out = appendAttr(out, "name", b.name)
	if b.autojoin {
		out = append(out, ` autojoin="true"`...)
	}
	out = append(out, '>')
	out = appendChild(out, "nick", b.nick)
	out = appendChild(out, "password", b.password)
	if len(b.extensions) > 0 {
		out = append(out, "<extensions>"...)
		out = append(out, b.extensions...)
		out = append(out, "</extensions>"...)
	}
	return append(out, "</conference>"...)
}

// legacy appends the XEP-0048 conference element of b.
func (b bookmark) legacy(out []byte) []byte {
	out = append(out, "<conference"...)
	out = appendAttr(out, "jid", b.jid)
	out = appendAttr(out, "name", b.name)
	if b.autojoin {
		out = append(out, ` autojoin="true"`...)
	}
	out = append(out, '>')
	out = appendChild(out, "nick", b.nick)
	out = appendChild(out, "password", b.password)
	return append(out, "</conference>"...)
}

func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, " "+name+`="`...)
	dst = xmpp.AppendEscaped(dst, value, true)
	return append(dst, '"')
}

func appendChild(dst []byte, name, text string) []byte {
	if text == "" {
		return dst
	}
	dst = append(dst, "<"+name+">"...)
	dst = xmpp.AppendEscaped(dst, text, false)
	return append(dst, "</"+name+">"...)
}

// getBookmarks builds the XEP-0048 storage element from the XEP-0402 node
// (XEP-0402 §5.3), with the URL bookmarks of the stored legacy element,
// which XEP-0402 has no place for. ok is false if the node does not exist.
func getBookmarks(ctx context.Context, svc *pep.Service, user xmpp.JID, stored []byte) (out []byte, ok bool, err error) {
	items, ok, err := svc.Items(ctx, user, NSBookmarks2)
	if err != nil || !ok {
		return nil, false, err
	}
	out = []byte(`<storage xmlns="` + NSBookmarks + `">`)
	for _, it := range items {
		b, err := fromItem(it)
		if err != nil {
			continue // not a bookmark: nothing to show
		}
		out = b.legacy(out)
	}
	if len(stored) > 0 {
		d := xml.NewDecoder(bytes.NewReader(stored))
		if _, err := xmpp.NextStart(d); err == nil {
			for {
				t, err := nextChild(d)
				if err != nil {
					break
				}
				if t.Name != (xml.Name{Space: NSBookmarks, Local: "url"}) {
					if err := d.Skip(); err != nil {
						break
					}
					continue
				}
				if out, err = pep.AppendElement(out, d, t, NSBookmarks); err != nil {
					return nil, false, err
				}
			}
		}
	}
	return append(out, "</storage>"...), true, nil
}

// setBookmarks makes the XEP-0402 node hold the conferences of a XEP-0048
// storage element (XEP-0402 §5.3): changed and new ones are published,
// missing ones retracted, unchanged ones left alone so their subscribers
// hear nothing. Extensions of existing items are kept.
func setBookmarks(ctx context.Context, svc *pep.Service, user, publisher xmpp.JID, storage []byte) error {
	var ls legacyStorage
	if err := xml.Unmarshal(storage, &ls); err != nil {
		return xmpp.NewStanzaError(xmpp.BadRequest, "malformed bookmarks")
	}
	items, _, err := svc.Items(ctx, user, NSBookmarks2)
	if err != nil {
		return err
	}
	have := map[string]bookmark{}
	for _, it := range items {
		if b, err := fromItem(it); err == nil {
			have[it.ID] = b
		}
	}
	want := map[string]bool{}
	for _, c := range ls.Conferences {
		room, err := xmpp.ParseJID(c.JID)
		if err != nil {
			continue // a bookmark without a usable room has no XEP-0402 form
		}
		b := bookmark{jid: room.Bare().String(), name: c.Name, autojoin: isTrue(c.Autojoin), nick: c.Nick, password: c.Password}
		want[b.jid] = true
		old, exists := have[b.jid]
		if exists {
			b.extensions = old.extensions
			if old.equal(b) {
				continue
			}
		}
		if err := publishBookmark(ctx, svc, user, publisher, b); err != nil {
			return err
		}
	}
	var gone []string
	for _, it := range items {
		if !want[it.ID] {
			gone = append(gone, it.ID)
		}
	}
	for _, id := range gone {
		if err := svc.Retract(ctx, user, NSBookmarks2, []string{id}, true); err != nil {
			return err
		}
	}
	return nil
}

// publishBookmark publishes one bookmark with the XEP-0402 node options,
// reconfiguring a node whose configuration differs (as clients do on
// precondition-not-met).
func publishBookmark(ctx context.Context, svc *pep.Service, user, publisher xmpp.JID, b bookmark) error {
	item := []pep.Item{{ID: b.jid, Payload: b.payload()}}
	_, err := svc.Publish(ctx, user, publisher, NSBookmarks2, item, bookmarkOptions)
	var se *xmpp.StanzaError
	if errors.As(err, &se) && se.Condition == xmpp.Conflict {
		if err := svc.Configure(ctx, user, NSBookmarks2, bookmarkOptions); err != nil {
			return err
		}
		_, err = svc.Publish(ctx, user, publisher, NSBookmarks2, item, bookmarkOptions)
	}
	return err
}
