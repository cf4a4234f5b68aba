package pep

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/xmpp"
)

const (
	juliet = "juliet@example.org"
	romeo  = "romeo@example.org"
	nurse  = "nurse@example.org"
	iago   = "iago@example.org"
	tune   = "http://jabber.org/protocol/tune"
)

func tunePayload(title string) string {
	return `<tune xmlns="` + tune + `"><title>` + title + `</title></tune>`
}

func TestPublishAndRetrieve(t *testing.T) {
	w := newWorld(t, juliet)
	if _, err := w.publish(juliet+"/balcony", "n", "a", tunePayload("one"), field("pubsub#max_items", "2")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "c"} {
		if _, err := w.publish(juliet+"/balcony", "n", id, tunePayload(id), ""); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.publish(juliet+"/balcony", "n", "", tunePayload("generated"), "")
	if err != nil {
		t.Fatal(err)
	}
	genID, _ := between(res, `<item id="`, `"`)
	if len(genID) != 24 {
		t.Fatalf("generated item id %q in %s", genID, res)
	}
	// Re-publishing "c" replaces it and makes it the newest.
	if _, err := w.publish(juliet+"/balcony", "n", "c", tunePayload("c again"), ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		request string
		want    []string // item ids in order
		wantErr xmpp.Condition
	}{
		{name: "all items, oldest first, max_items 2 kept", request: `<items node="n"/>`, want: []string{genID, "c"}},
		{name: "most recent one", request: `<items node="n" max_items="1"/>`, want: []string{"c"}},
		{name: "by id", request: `<items node="n"><item id="` + genID + `"/></items>`, want: []string{genID}},
		{name: "pruned id", request: `<items node="n"><item id="a"/></items>`, wantErr: xmpp.ItemNotFound},
		{name: "missing node", request: `<items node="none"/>`, wantErr: xmpp.ItemNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.h.IQ(iq(juliet+"/balcony", "", "get", `<pubsub xmlns="`+NS+`">`+tc.request+`</pubsub>`))
			if tc.wantErr != "" {
				errorIs(t, err, tc.wantErr, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := itemIDs(string(res)); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("items %v, want %v in %s", got, tc.want, res)
			}
			if !strings.Contains(string(res), `<title>c again</title>`) && tc.name != "by id" {
				t.Fatalf("republished payload missing: %s", res)
			}
		})
	}
}

func between(s, from, to string) (string, bool) {
	i := strings.Index(s, from)
	if i < 0 {
		return "", false
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return "", false
	}
	return s[:j], true
}

func itemIDs(s string) []string {
	var ids []string
	for {
		id, ok := between(s, `<item id="`, `"`)
		if !ok {
			return ids
		}
		ids = append(ids, id)
		s = s[strings.Index(s, `<item id="`)+len(`<item id="`):]
	}
}

func TestAccessModels(t *testing.T) {
	w := newWorld(t, juliet, romeo, nurse, iago)
	w.roster(juliet, romeo, roster.Both)
	w.roster(juliet, nurse, roster.To) // Juliet sees the nurse; the nurse does not see her
	it := roster.Item{JID: xmpp.MustParseJID(romeo), Subscription: roster.Both, Groups: []string{"Friends"}}
	if _, err := roster.NewStore(w.h.Storage()).Put(t.Context(), xmpp.MustParseJID(juliet), it); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{
		"presence":  field("pubsub#access_model", "presence"),
		"open":      field("pubsub#access_model", "open"),
		"whitelist": field("pubsub#access_model", "whitelist"),
		"roster":    field("pubsub#access_model", "roster") + field("pubsub#roster_groups_allowed", "Friends"),
		"roster-x":  field("pubsub#access_model", "roster") + field("pubsub#roster_groups_allowed", "Servants"),
	}
	for node, opts := range nodes {
		if _, err := w.publish(juliet+"/balcony", node, "current", tunePayload(node), opts); err != nil {
			t.Fatal(node, err)
		}
	}
	tests := []struct {
		name      string
		requester string
		node      string
		wantCond  xmpp.Condition // "" for success
		wantApp   string
	}{
		{name: "owner reads whitelist", requester: juliet + "/chamber", node: "whitelist"},
		{name: "subscribed contact reads presence", requester: romeo + "/orchard", node: "presence"},
		{name: "unsubscribed contact refused presence", requester: nurse + "/chamber", node: "presence",
			wantCond: xmpp.NotAuthorized, wantApp: "presence-subscription-required"},
		{name: "stranger refused presence", requester: iago + "/x", node: "presence",
			wantCond: xmpp.NotAuthorized, wantApp: "presence-subscription-required"},
		{name: "stranger reads open", requester: iago + "/x", node: "open"},
		{name: "contact refused whitelist", requester: romeo + "/orchard", node: "whitelist",
			wantCond: xmpp.NotAllowed, wantApp: "closed-node"},
		{name: "contact in group reads roster", requester: romeo + "/orchard", node: "roster"},
		{name: "contact outside group refused roster", requester: romeo + "/orchard", node: "roster-x",
			wantCond: xmpp.NotAuthorized, wantApp: "not-in-roster-group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.h.IQ(iq(tc.requester, juliet, "get", `<pubsub xmlns="`+NS+`"><items node="`+tc.node+`"/></pubsub>`))
			if tc.wantCond != "" {
				errorIs(t, err, tc.wantCond, tc.wantApp)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(res), "<title>"+tc.node+"</title>") {
				t.Fatalf("result lacks the item: %s", res)
			}
		})
	}
}

func TestOwnerOnly(t *testing.T) {
	w := newWorld(t, juliet, romeo)
	w.roster(juliet, romeo, roster.Both)
	if _, err := w.publish(juliet+"/balcony", tune, "current", tunePayload("x"), ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		st       *xmpp.Stanza
		wantCond xmpp.Condition
	}{
		{name: "publish to another account", wantCond: xmpp.Forbidden,
			st: iq(romeo+"/orchard", juliet, "set", `<pubsub xmlns="`+NS+`"><publish node="`+tune+`"><item>`+tunePayload("y")+`</item></publish></pubsub>`)},
		{name: "retract on another account", wantCond: xmpp.Forbidden,
			st: iq(romeo+"/orchard", juliet, "set", `<pubsub xmlns="`+NS+`"><retract node="`+tune+`"><item id="current"/></retract></pubsub>`)},
		{name: "configure another account's node", wantCond: xmpp.Forbidden,
			st: iq(romeo+"/orchard", juliet, "get", `<pubsub xmlns="`+NSOwner+`"><configure node="`+tune+`"/></pubsub>`)},
		{name: "missing account", wantCond: xmpp.ServiceUnavailable,
			st: iq(romeo+"/orchard", "ghost@example.org", "get", `<pubsub xmlns="`+NS+`"><items node="`+tune+`"/></pubsub>`)},
		{name: "the domain has no pubsub service", wantCond: xmpp.ServiceUnavailable,
			st: iq(romeo+"/orchard", "example.org", "get", `<pubsub xmlns="`+NS+`"><items node="`+tune+`"/></pubsub>`)},
		{name: "explicit subscribe unsupported", wantCond: xmpp.FeatureNotImplemented,
			st: iq(romeo+"/orchard", juliet, "set", `<pubsub xmlns="`+NS+`"><subscribe node="`+tune+`" jid="`+romeo+`"/></pubsub>`)},
		{name: "two payloads in an item", wantCond: xmpp.BadRequest,
			st: iq(juliet+"/balcony", "", "set", `<pubsub xmlns="`+NS+`"><publish node="n"><item>`+tunePayload("a")+tunePayload("b")+`</item></publish></pubsub>`)},
		{name: "publish without item", wantCond: xmpp.BadRequest,
			st: iq(juliet+"/balcony", "", "set", `<pubsub xmlns="`+NS+`"><publish node="n"/></pubsub>`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.h.IQ(tc.st)
			errorIs(t, err, tc.wantCond, "")
		})
	}
}

func TestPublishOptionsPreconditions(t *testing.T) {
	w := newWorld(t, juliet)
	const node = "eu.siacs.conversations.axolotl.devicelist"
	devices := `<list xmlns="eu.siacs.conversations.axolotl"><device id="1"/></list>`
	if _, err := w.publish(juliet+"/balcony", node, "current", devices, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		options string
		wantErr bool
	}{
		{name: "matching default access", options: field("pubsub#access_model", "presence")},
		{name: "other access model", options: field("pubsub#access_model", "open"), wantErr: true},
		{name: "other max_items", options: field("pubsub#max_items", "max"), wantErr: true},
		{name: "unsupported access model", options: field("pubsub#access_model", "authorize"), wantErr: true},
		{name: "matching boolean spelled true", options: field("pubsub#persist_items", "true")},
		{name: "unknown option ignored", options: field("pubsub#notify_sub", "0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.publish(juliet+"/balcony", node, "current", devices, tc.options)
			if tc.wantErr {
				errorIs(t, err, xmpp.Conflict, "precondition-not-met")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("reconfigure then publish", func(t *testing.T) {
		form := `<x xmlns="jabber:x:data" type="submit">` + field("FORM_TYPE", formTypeNodeConfig) +
			field("pubsub#access_model", "open") + `</x>`
		w.do(iq(juliet+"/balcony", "", "set", `<pubsub xmlns="`+NSOwner+`"><configure node="`+node+`">`+form+`</configure></pubsub>`))
		if _, err := w.publish(juliet+"/balcony", node, "current", devices, field("pubsub#access_model", "open")); err != nil {
			t.Fatal(err)
		}
		res := w.do(iq(juliet+"/balcony", "", "get", `<pubsub xmlns="`+NSOwner+`"><configure node="`+node+`"/></pubsub>`))
		if !strings.Contains(res, `<field var="pubsub#access_model" type="list-single"`) ||
			!strings.Contains(res, `</option><value>open</value></field>`) {
			t.Fatalf("configuration form: %s", res)
		}
	})
}

func TestOMEMOReadableByNonContact(t *testing.T) {
	w := newWorld(t, juliet, iago)
	const (
		devicelist = "eu.siacs.conversations.axolotl.devicelist"
		bundle     = "eu.siacs.conversations.axolotl.bundles:42"
	)
	open := field("pubsub#access_model", "open")
	if _, err := w.publish(juliet+"/balcony", devicelist, "current",
		`<list xmlns="eu.siacs.conversations.axolotl"><device id="42"/></list>`, open); err != nil {
		t.Fatal(err)
	}
	if _, err := w.publish(juliet+"/balcony", bundle, "current",
		`<bundle xmlns="eu.siacs.conversations.axolotl"><identityKey>AAAA</identityKey></bundle>`, open); err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{devicelist, bundle} {
		res := w.do(iq(iago+"/x", juliet, "get", `<pubsub xmlns="`+NS+`"><items node="`+node+`" max_items="1"/></pubsub>`))
		if !strings.Contains(res, `<item id="current"><`) {
			t.Fatalf("%s: %s", node, res)
		}
	}
	if !strings.Contains(w.do(iq(iago+"/x", juliet, "get", `<pubsub xmlns="`+NS+`"><items node="`+devicelist+`"/></pubsub>`)),
		`<device id="42"/>`) {
		t.Fatal("device list payload lost")
	}
}

func TestNotifications(t *testing.T) {
	w := newWorld(t, juliet, romeo, nurse, iago)
	w.roster(juliet, romeo, roster.Both)
	w.roster(juliet, nurse, roster.From)
	w.roster(juliet, iago, roster.To) // iago does not see Juliet's presence
	notify := []string{tune + "+notify", tune}
	w.online(juliet+"/balcony", 1, notify...)
	w.online(juliet+"/chamber", 0, tune) // no +notify
	w.online(romeo+"/orchard", 0, notify...)
	w.online(romeo+"/lowprio", -1, notify...)
	w.online(nurse+"/kitchen", 5, "urn:other") // subscribed, not interested
	w.online(iago+"/x", 0, notify...)
	w.events(50 * time.Millisecond) // drop last-item deliveries of the setup

	if _, err := w.publish(juliet+"/balcony", tune, "current", tunePayload("Finzi"), ""); err != nil {
		t.Fatal(err)
	}
	got := w.events(100 * time.Millisecond)
	tests := []struct {
		name string
		to   string
		want bool
	}{
		{name: "publishing resource with +notify", to: juliet + "/balcony", want: true},
		{name: "own resource without +notify", to: juliet + "/chamber"},
		{name: "subscribed contact with +notify", to: romeo + "/orchard", want: true},
		{name: "negative priority", to: romeo + "/lowprio"},
		{name: "subscribed contact without +notify", to: nurse + "/kitchen"},
		{name: "contact without presence subscription", to: iago + "/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs := got[tc.to]
			if !tc.want {
				if len(msgs) != 0 {
					t.Fatalf("unexpected notification: %v", msgs)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("got %d notifications, want 1: %v", len(msgs), msgs)
			}
			m := msgs[0]
			for _, part := range []string{`from="` + juliet + `"`, `type="headline"`, `<items node="` + tune + `"><item id="current"><tune`, "Finzi"} {
				if !strings.Contains(m, part) {
					t.Fatalf("notification lacks %s: %s", part, m)
				}
			}
		})
	}

	t.Run("retract notifies", func(t *testing.T) {
		w.do(iq(juliet+"/balcony", "", "set", `<pubsub xmlns="`+NS+`"><retract node="`+tune+`" notify="true"><item id="current"/></retract></pubsub>`))
		got := w.events(100 * time.Millisecond)
		if m := got[juliet+"/balcony"]; len(m) != 1 || !strings.Contains(m[0], `<retract id="current"/>`) {
			t.Fatalf("retract notification: %v", got)
		}
	})
}

func TestLastItemOnAvailable(t *testing.T) {
	w := newWorld(t, juliet, romeo, iago)
	w.roster(juliet, romeo, roster.Both)
	w.roster(romeo, juliet, roster.Both)
	w.roster(iago, juliet, roster.To) // iago thinks he is subscribed; Juliet's roster says no
	if _, err := w.publish(juliet+"/balcony", tune, "current", tunePayload("Finzi"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.publish(juliet+"/balcony", "urn:xmpp:bookmarks:1", "room@muc.example.org",
		`<conference xmlns="urn:xmpp:bookmarks:1"/>`, field("pubsub#send_last_published_item", "never")); err != nil {
		t.Fatal(err)
	}
	w.events(20 * time.Millisecond)
	tests := []struct {
		name     string
		full     string
		features []string
		want     []string // nodes of last items received
	}{
		{name: "contact with +notify", full: romeo + "/orchard", features: []string{tune + "+notify"}, want: []string{tune}},
		{name: "contact without caps", full: romeo + "/plain"},
		{name: "owner, send_last never skipped", full: juliet + "/chamber",
			features: []string{tune + "+notify", "urn:xmpp:bookmarks:1+notify"}, want: []string{tune}},
		{name: "not allowed by the owner's roster", full: iago + "/x", features: []string{tune + "+notify"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.online(tc.full, 0, tc.features...)
			got := w.events(150 * time.Millisecond)[tc.full]
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want last items of %v", got, tc.want)
			}
			for i, node := range tc.want {
				if !strings.Contains(got[i], `<items node="`+node+`">`) || !strings.Contains(got[i], `<delay xmlns="urn:xmpp:delay" stamp="`) {
					t.Fatalf("last item %d: %s", i, got[i])
				}
			}
		})
	}
}

func TestDeleteAndPurge(t *testing.T) {
	w := newWorld(t, juliet)
	w.online(juliet+"/balcony", 0, tune+"+notify")
	for _, id := range []string{"a", "b"} {
		if _, err := w.publish(juliet+"/balcony", tune, id, tunePayload(id), field("pubsub#max_items", "10")); err != nil {
			t.Fatal(err)
		}
	}
	w.events(20 * time.Millisecond)
	w.do(iq(juliet+"/balcony", "", "set", `<pubsub xmlns="`+NSOwner+`"><purge node="`+tune+`"/></pubsub>`))
	if res := w.do(iq(juliet+"/balcony", "", "get", `<pubsub xmlns="`+NS+`"><items node="`+tune+`"/></pubsub>`)); len(itemIDs(res)) != 0 {
		t.Fatalf("items after purge: %s", res)
	}
	w.do(iq(juliet+"/balcony", "", "set", `<pubsub xmlns="`+NSOwner+`"><delete node="`+tune+`"/></pubsub>`))
	_, err := w.h.IQ(iq(juliet+"/balcony", "", "get", `<pubsub xmlns="`+NS+`"><items node="`+tune+`"/></pubsub>`))
	errorIs(t, err, xmpp.ItemNotFound, "")
	got := w.events(100 * time.Millisecond)[juliet+"/balcony"]
	if len(got) != 2 || !strings.Contains(got[0], `<purge node="`+tune+`"/>`) || !strings.Contains(got[1], `<delete node="`+tune+`"/>`) {
		t.Fatalf("purge and delete notifications: %v", got)
	}
}

func TestAppendElement(t *testing.T) {
	tests := []struct {
		name    string
		payload string // the content of an <iq/> whose Attrs declare p
		want    string
	}{
		{name: "default namespace kept once", payload: `<a xmlns="urn:a"><b>t&amp;x</b><c/></a>`,
			want: `<a xmlns="urn:a"><b>t&amp;x</b><c/></a>`},
		{name: "prefix declared outside", payload: `<p:a><p:b q="1"/></p:a>`,
			want: `<a xmlns="urn:p"><b q="1"/></a>`},
		{name: "namespaced attribute and xml:lang", payload: `<a xmlns="urn:a" p:x="1" xml:lang="en"/>`,
			want: `<a xmlns="urn:a" xmlns:ns1="urn:p" ns1:x="1" xml:lang="en"/>`},
		{name: "child back in no namespace", payload: `<a xmlns="urn:a"><b xmlns=""/></a>`,
			want: `<a xmlns="urn:a"><b xmlns=""/></a>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &xmpp.Stanza{Kind: xmpp.KindIQ, Name: "iq", Space: xmpp.NSClient, Inner: []byte(tc.payload),
				Attrs: []xmpp.Attr{{Name: "xmlns:p", Value: "urn:p"}}}
			d := st.Decoder()
			start, err := xmpp.NextStart(d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendElement(nil, d, start, "")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
