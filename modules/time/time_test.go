package time

import (
	"context"
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

// fixed provisions a Module whose clock is stopped at t.
type fixed struct {
	Module
	at time.Time
}

func (f *fixed) Provision(ctx context.Context, h modules.Host) error {
	f.now = func() time.Time { return f.at }
	return f.Module.Provision(ctx, h)
}

func TestTime(t *testing.T) {
	// 11:58:35 at UTC-6 is 17:58:35 UTC (the XEP-0202 example).
	at := time.Date(2006, 12, 19, 11, 58, 35, 123456789, time.FixedZone("CST", -6*3600))
	h := moduletest.NewHost(t, "example.org")
	h.Provision(&fixed{at: at})
	tests := []struct {
		name     string
		typ, to  string
		local    string
		want     string
		wantCond xmpp.Condition
	}{
		{
			name: "domain", typ: "get", to: "example.org", local: "time",
			want: `<time xmlns="urn:xmpp:time"><tzo>+00:00</tzo><utc>2006-12-19T17:58:35Z</utc></time>`,
		},
		{
			name: "no to", typ: "get", local: "time",
			want: `<time xmlns="urn:xmpp:time"><tzo>+00:00</tzo><utc>2006-12-19T17:58:35Z</utc></time>`,
		},
		{name: "an account", typ: "get", to: "juliet@example.org", local: "time", wantCond: xmpp.ServiceUnavailable},
		{name: "set", typ: "set", to: "example.org", local: "time", wantCond: xmpp.NotAllowed},
		{name: "wrong element", typ: "get", to: "example.org", local: "query", wantCond: xmpp.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := moduletest.NewStanza(xmpp.KindIQ, "t1", tc.typ, "juliet@example.org/balcony", tc.to,
				`<`+tc.local+` xmlns="`+NS+`"/>`)
			res, err := h.IQ(st)
			var se *xmpp.StanzaError
			switch {
			case tc.wantCond == "" && err != nil:
				t.Fatal(err)
			case tc.wantCond != "" && (!errors.As(err, &se) || se.Condition != tc.wantCond):
				t.Fatalf("error %v, want %s", err, tc.wantCond)
			}
			if string(res) != tc.want {
				t.Errorf("result %s, want %s", res, tc.want)
			}
		})
	}
}

func TestTimeDefaultsToNow(t *testing.T) {
	h := moduletest.NewHost(t, "example.org")
	h.Provision(new(Module))
	before := time.Now().UTC().Truncate(time.Second)
	res, err := h.IQ(&xmpp.Stanza{Kind: xmpp.KindIQ, Type: "get", To: xmpp.MustParseJID("example.org"),
		Payload: xml.Name{Space: NS, Local: "time"}, Inner: []byte(`<time xmlns="urn:xmpp:time"/>`)})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		UTC string `xml:"utc"`
	}
	if err := xml.Unmarshal(res, &v); err != nil {
		t.Fatal(err)
	}
	got, err := time.Parse(time.RFC3339, v.UTC)
	if err != nil || got.Before(before) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("utc %q (%v), want about %v", v.UTC, err, before)
	}
}
