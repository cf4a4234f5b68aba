package roster_test

import (
	"testing"

	"github.com/parley-im/parley/modules/roster"
)

// row is one row of an RFC 6121 Appendix A table, as seen from
// alice@example.com, whose entry for the remote contact
// bob@remote.example starts in state from.
type row struct {
	typ       string
	from      string
	preApp    bool   // the entry starts pre-approved
	want      string // the state after
	wantPre   bool   // pre-approved after
	push      bool   // alice's interested resource gets a roster push
	forward   bool   // outbound: routed to bob; inbound: delivered to alice
	reply     string // inbound: the subscription type routed back to bob
	unavail   bool   // unavailable presence from alice's session routed to bob
	wantError bool
}

// Appendix A.2: outbound subscription stanzas (from alice to bob).
var outboundRows = map[string]row{
	// A.2.1 subscribe: always routed.
	"subscribe/None":                  {typ: "subscribe", from: "None", want: "None + Pending Out", push: true, forward: true},
	"subscribe/None + Pending Out":    {typ: "subscribe", from: "None + Pending Out", want: "None + Pending Out", forward: true},
	"subscribe/None + Pending In":     {typ: "subscribe", from: "None + Pending In", want: "None + Pending Out/In", push: true, forward: true},
	"subscribe/None + Pending Out/In": {typ: "subscribe", from: "None + Pending Out/In", want: "None + Pending Out/In", forward: true},
	"subscribe/To":                    {typ: "subscribe", from: "To", want: "To", forward: true},
	"subscribe/To + Pending In":       {typ: "subscribe", from: "To + Pending In", want: "To + Pending In", forward: true},
	"subscribe/From":                  {typ: "subscribe", from: "From", want: "From + Pending Out", push: true, forward: true},
	"subscribe/From + Pending Out":    {typ: "subscribe", from: "From + Pending Out", want: "From + Pending Out", forward: true},
	"subscribe/Both":                  {typ: "subscribe", from: "Both", want: "Both", forward: true},

	// A.2.2 unsubscribe: always routed.
	"unsubscribe/None":                  {typ: "unsubscribe", from: "None", want: "None", forward: true},
	"unsubscribe/None + Pending Out":    {typ: "unsubscribe", from: "None + Pending Out", want: "None", push: true, forward: true},
	"unsubscribe/None + Pending In":     {typ: "unsubscribe", from: "None + Pending In", want: "None + Pending In", forward: true},
	"unsubscribe/None + Pending Out/In": {typ: "unsubscribe", from: "None + Pending Out/In", want: "None + Pending In", push: true, forward: true},
	"unsubscribe/To":                    {typ: "unsubscribe", from: "To", want: "None", push: true, forward: true},
	"unsubscribe/To + Pending In":       {typ: "unsubscribe", from: "To + Pending In", want: "None + Pending In", push: true, forward: true},
	"unsubscribe/From":                  {typ: "unsubscribe", from: "From", want: "From", forward: true},
	"unsubscribe/From + Pending Out":    {typ: "unsubscribe", from: "From + Pending Out", want: "From", push: true, forward: true},
	"unsubscribe/Both":                  {typ: "unsubscribe", from: "Both", want: "From", push: true, forward: true},

	// A.2.3 subscribed: where the table changes nothing and routes
	// nothing, "None", "None + Pending Out" and "To" record a
	// pre-approval (§3.4), which clients see as approved='true'.
	"subscribed/None":                  {typ: "subscribed", from: "None", want: "None", wantPre: true, push: true},
	"subscribed/None + Pending Out":    {typ: "subscribed", from: "None + Pending Out", want: "None + Pending Out", wantPre: true, push: true},
	"subscribed/None + Pending In":     {typ: "subscribed", from: "None + Pending In", want: "From", push: true, forward: true},
	"subscribed/None + Pending Out/In": {typ: "subscribed", from: "None + Pending Out/In", want: "From + Pending Out", push: true, forward: true},
	"subscribed/To":                    {typ: "subscribed", from: "To", want: "To", wantPre: true, push: true},
	"subscribed/To + Pending In":       {typ: "subscribed", from: "To + Pending In", want: "Both", push: true, forward: true},
	"subscribed/From":                  {typ: "subscribed", from: "From", want: "From"},
	"subscribed/From + Pending Out":    {typ: "subscribed", from: "From + Pending Out", want: "From + Pending Out"},
	"subscribed/Both":                  {typ: "subscribed", from: "Both", want: "Both"},
	"subscribed/None, pre-approved":    {typ: "subscribed", from: "None", preApp: true, want: "None", wantPre: true},

	// A.2.4 unsubscribed. Ending bob's subscription to alice also sends
	// bob alice's unavailable presence (§3.2.2).
	"unsubscribed/None":                  {typ: "unsubscribed", from: "None", want: "None"},
	"unsubscribed/None + Pending Out":    {typ: "unsubscribed", from: "None + Pending Out", want: "None + Pending Out"},
	"unsubscribed/None + Pending In":     {typ: "unsubscribed", from: "None + Pending In", want: "None", forward: true},
	"unsubscribed/None + Pending Out/In": {typ: "unsubscribed", from: "None + Pending Out/In", want: "None + Pending Out", forward: true},
	"unsubscribed/To":                    {typ: "unsubscribed", from: "To", want: "To"},
	"unsubscribed/To + Pending In":       {typ: "unsubscribed", from: "To + Pending In", want: "To", forward: true},
	"unsubscribed/From":                  {typ: "unsubscribed", from: "From", want: "None", push: true, forward: true, unavail: true},
	"unsubscribed/From + Pending Out":    {typ: "unsubscribed", from: "From + Pending Out", want: "None + Pending Out", push: true, forward: true, unavail: true},
	"unsubscribed/Both":                  {typ: "unsubscribed", from: "Both", want: "To", push: true, forward: true, unavail: true},
	"unsubscribed/None, pre-approved":    {typ: "unsubscribed", from: "None", preApp: true, want: "None", push: true},
}

// Appendix A.3: inbound subscription stanzas (from bob to alice).
var inboundRows = map[string]row{
	// A.3.1 subscribe. "From", "From + Pending Out" and "Both" are
	// answered with "subscribed" on alice's behalf; a pre-approval answers
	// the request as well, and the subscription starts (§3.4.2).
	"subscribe/None":                             {typ: "subscribe", from: "None", want: "None + Pending In", forward: true},
	"subscribe/None + Pending Out":               {typ: "subscribe", from: "None + Pending Out", want: "None + Pending Out/In", forward: true},
	"subscribe/None + Pending In":                {typ: "subscribe", from: "None + Pending In", want: "None + Pending In"},
	"subscribe/None + Pending Out/In":            {typ: "subscribe", from: "None + Pending Out/In", want: "None + Pending Out/In"},
	"subscribe/To":                               {typ: "subscribe", from: "To", want: "To + Pending In", forward: true},
	"subscribe/To + Pending In":                  {typ: "subscribe", from: "To + Pending In", want: "To + Pending In"},
	"subscribe/From":                             {typ: "subscribe", from: "From", want: "From", reply: "subscribed"},
	"subscribe/From + Pending Out":               {typ: "subscribe", from: "From + Pending Out", want: "From + Pending Out", reply: "subscribed"},
	"subscribe/Both":                             {typ: "subscribe", from: "Both", want: "Both", reply: "subscribed"},
	"subscribe/None, pre-approved":               {typ: "subscribe", from: "None", preApp: true, want: "From", push: true, reply: "subscribed"},
	"subscribe/None + Pending Out, pre-approved": {typ: "subscribe", from: "None + Pending Out", preApp: true, want: "From + Pending Out", push: true, reply: "subscribed"},
	"subscribe/To, pre-approved":                 {typ: "subscribe", from: "To", preApp: true, want: "Both", push: true, reply: "subscribed"},

	// A.3.2 unsubscribe. Losing bob's subscription, alice's server sends
	// bob her unavailable presence (§3.3.3).
	"unsubscribe/None":                  {typ: "unsubscribe", from: "None", want: "None"},
	"unsubscribe/None + Pending Out":    {typ: "unsubscribe", from: "None + Pending Out", want: "None + Pending Out"},
	"unsubscribe/None + Pending In":     {typ: "unsubscribe", from: "None + Pending In", want: "None", forward: true},
	"unsubscribe/None + Pending Out/In": {typ: "unsubscribe", from: "None + Pending Out/In", want: "None + Pending Out", forward: true},
	"unsubscribe/To":                    {typ: "unsubscribe", from: "To", want: "To"},
	"unsubscribe/To + Pending In":       {typ: "unsubscribe", from: "To + Pending In", want: "To", forward: true},
	"unsubscribe/From":                  {typ: "unsubscribe", from: "From", want: "None", push: true, forward: true, unavail: true},
	"unsubscribe/From + Pending Out":    {typ: "unsubscribe", from: "From + Pending Out", want: "None + Pending Out", push: true, forward: true, unavail: true},
	"unsubscribe/Both":                  {typ: "unsubscribe", from: "Both", want: "To", push: true, forward: true, unavail: true},

	// A.3.3 subscribed.
	"subscribed/None":                  {typ: "subscribed", from: "None", want: "None"},
	"subscribed/None + Pending Out":    {typ: "subscribed", from: "None + Pending Out", want: "To", push: true, forward: true},
	"subscribed/None + Pending In":     {typ: "subscribed", from: "None + Pending In", want: "None + Pending In"},
	"subscribed/None + Pending Out/In": {typ: "subscribed", from: "None + Pending Out/In", want: "To + Pending In", push: true, forward: true},
	"subscribed/To":                    {typ: "subscribed", from: "To", want: "To"},
	"subscribed/To + Pending In":       {typ: "subscribed", from: "To + Pending In", want: "To + Pending In"},
	"subscribed/From":                  {typ: "subscribed", from: "From", want: "From"},
	"subscribed/From + Pending Out":    {typ: "subscribed", from: "From + Pending Out", want: "Both", push: true, forward: true},
	"subscribed/Both":                  {typ: "subscribed", from: "Both", want: "Both"},

	// A.3.4 unsubscribed.
	"unsubscribed/None":                  {typ: "unsubscribed", from: "None", want: "None"},
	"unsubscribed/None + Pending Out":    {typ: "unsubscribed", from: "None + Pending Out", want: "None", push: true, forward: true},
	"unsubscribed/None + Pending In":     {typ: "unsubscribed", from: "None + Pending In", want: "None + Pending In"},
	"unsubscribed/None + Pending Out/In": {typ: "unsubscribed", from: "None + Pending Out/In", want: "None + Pending In", push: true, forward: true},
	"unsubscribed/To":                    {typ: "unsubscribed", from: "To", want: "None", push: true, forward: true},
	"unsubscribed/To + Pending In":       {typ: "unsubscribed", from: "To + Pending In", want: "None + Pending In", push: true, forward: true},
	"unsubscribed/From":                  {typ: "unsubscribed", from: "From", want: "From"},
	"unsubscribed/From + Pending Out":    {typ: "unsubscribed", from: "From + Pending Out", want: "From", push: true, forward: true},
	"unsubscribed/Both":                  {typ: "unsubscribed", from: "Both", want: "From", push: true, forward: true},
}

const (
	alice = "alice@example.com"
	phone = "alice@example.com/phone"
	bob   = "bob@remote.example"
)

// runRow sets alice's entry for bob to the row's starting state, runs
// process and checks the outcome.
func runRow(t *testing.T, tc row, outbound bool) {
	h, s := newHost(t, alice)
	online(h, phone)
	start := states[tc.from]
	start.JID, start.Name, start.PreApproved = jid(bob), "Bob", tc.preApp
	if _, err := s.Put(ctx, jid(alice), start); err != nil {
		t.Fatal(err)
	}
	var err error
	if outbound {
		err = s.Outbound(ctx, h.mh, pres(phone, bob, tc.typ))
	} else {
		err = s.Inbound(ctx, h.mh, pres(bob, alice, tc.typ))
	}
	if err != nil {
		t.Fatal(err)
	}

	it, ok := entry(t, s, alice, bob)
	if !ok {
		t.Fatal("alice's entry for bob is gone")
	}
	if got := stateOf(it); got != tc.want || it.PreApproved != tc.wantPre {
		t.Errorf("state %q pre-approved %v, want %q pre-approved %v", got, it.PreApproved, tc.want, tc.wantPre)
	}

	delivered := h.Delivered()
	ps := pushesOf(t, delivered)
	if got := len(ps) > 0; got != tc.push {
		t.Errorf("roster push %v, want %v", got, tc.push)
	}
	for _, p := range ps {
		if p.Item.JID != bob || p.Item.Subscription != it.Subscription.String() || (p.Item.Ask == "subscribe") != it.Ask ||
			(p.Item.Approved == "true") != it.PreApproved || p.Item.Name != "Bob" {
			t.Errorf("push %+v does not show the entry %+v", p.Item, it)
		}
	}

	routed := routedTypes(h.Routed())
	pr := presences(delivered)
	if outbound {
		if got := contains(routed, tc.typ+" "+alice+"→"+bob); got != tc.forward {
			t.Errorf("routed %v, want %v (routed %q)", got, tc.forward, routed)
		}
		if len(pr) != 0 {
			t.Errorf("delivered %q, want nothing", pr)
		}
	} else {
		if got := contains(pr, tc.typ+" "+bob+"→"+phone); got != tc.forward {
			t.Errorf("delivered %v, want %v (delivered %q)", got, tc.forward, pr)
		}
		gotReply := ""
		for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed"} {
			if contains(routed, typ+" "+alice+"→"+bob) {
				gotReply = typ
			}
		}
		if gotReply != tc.reply {
			t.Errorf("reply %q, want %q (routed %q)", gotReply, tc.reply, routed)
		}
		if tc.reply == "subscribed" && !contains(routed, "available "+phone+"→"+bob) {
			t.Errorf("approval without alice's presence (routed %q)", routed)
		}
	}
	if got := contains(routed, "unavailable "+phone+"→"+bob); got != tc.unavail {
		t.Errorf("unavailable sent %v, want %v (routed %q)", got, tc.unavail, routed)
	}
}

func TestOutboundAppendixA2(t *testing.T) {
	for name, tc := range outboundRows {
		t.Run(name, func(t *testing.T) { runRow(t, tc, true) })
	}
}

func TestInboundAppendixA3(t *testing.T) {
	for name, tc := range inboundRows {
		t.Run(name, func(t *testing.T) { runRow(t, tc, false) })
	}
}

// Every row of both tables is covered: 4 types × 9 states each.
func TestAppendixATablesComplete(t *testing.T) {
	for _, tables := range []map[string]row{outboundRows, inboundRows} {
		seen := map[string]bool{}
		for _, tc := range tables {
			if !tc.preApp {
				seen[tc.typ+"/"+tc.from] = true
			}
		}
		for _, typ := range []string{"subscribe", "unsubscribe", "subscribed", "unsubscribed"} {
			for st := range states {
				if !seen[typ+"/"+st] {
					t.Errorf("no row for %s in state %q", typ, st)
				}
			}
		}
	}
}

func TestInboundSubscribeFromStrangerIsHidden(t *testing.T) {
	h, s := newHost(t, alice)
	online(h, phone)
	req := pres(bob, alice, "subscribe")
	req.Inner = []byte(`<status>I'm Bob</status>`)
	if err := s.Inbound(ctx, h.mh, req); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Item(ctx, jid(alice), jid(bob)); ok {
		t.Error("a pending request from a stranger is a roster item")
	}
	items, _, _ := s.Items(ctx, jid(alice))
	if len(items) != 0 {
		t.Errorf("roster %+v, want empty", items)
	}
	it, ok := entry(t, s, alice, bob)
	if !ok || !it.Hidden || stateOf(it) != "None + Pending In" {
		t.Fatalf("entry %+v %v, want hidden None + Pending In", it, ok)
	}
	ds := h.Delivered()
	if len(pushesOf(t, ds)) != 0 {
		t.Error("pushed a hidden entry")
	}
	if got := it.RequestStanza(jid(alice)).String(); got != `<presence to="alice@example.com" from="bob@remote.example" type="subscribe"><status>I'm Bob</status></presence>` {
		t.Errorf("stored request %s", got)
	}

	// Declining the request leaves nothing behind.
	if err := s.Outbound(ctx, h.mh, pres(phone, bob, "unsubscribed")); err != nil {
		t.Fatal(err)
	}
	if _, ok := entry(t, s, alice, bob); ok {
		t.Error("declined request still stored")
	}
	if len(pushesOf(t, h.Delivered())) != 0 {
		t.Error("declining a hidden request pushed")
	}
}

func TestInboundToMissingAccount(t *testing.T) {
	h, s := newHost(t)
	if err := s.Inbound(ctx, h.mh, pres(bob, "nobody@example.com", "subscribe")); err != nil {
		t.Fatal(err)
	}
	if got := routedTypes(h.Routed()); !contains(got, "unsubscribed nobody@example.com→"+bob) {
		t.Errorf("routed %q, want unsubscribed", got)
	}
	if all, _ := s.Entries(ctx, jid("nobody@example.com")); len(all) != 0 {
		t.Errorf("stored %+v for a missing account", all)
	}
	// Other types are ignored.
	if err := s.Inbound(ctx, h.mh, pres(bob, "nobody@example.com", "unsubscribe")); err != nil {
		t.Fatal(err)
	}
	if got := h.Routed(); len(got) != 0 {
		t.Errorf("routed %v", got)
	}
}

func TestOutboundToLocalContact(t *testing.T) {
	// A contact on another local domain gets the inbound processing
	// directly, nothing is routed.
	const carol = "carol@example.net"
	h, s := newHost(t, alice, carol)
	online(h, "carol@example.net/desk")
	if err := s.Outbound(ctx, h.mh, pres(phone, carol, roster.Subscribe)); err != nil {
		t.Fatal(err)
	}
	if r := h.Routed(); len(r) != 0 {
		t.Errorf("routed %v", r)
	}
	if got := presences(h.Delivered()); !contains(got, "subscribe "+alice+"→carol@example.net/desk") {
		t.Errorf("delivered %q", got)
	}
	it, _ := entry(t, s, carol, alice)
	if stateOf(it) != "None + Pending In" || !it.Hidden {
		t.Errorf("carol's entry %+v", it)
	}
}
