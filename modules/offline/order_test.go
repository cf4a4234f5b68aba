package offline

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/modules/moduletest"
	"github.com/parley-im/parley/xmpp"
)

// presence is a broadcast presence from s with priority prio.
func presence(s *moduletest.Session, prio string) *xmpp.Stanza {
	return &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient,
		From: s.JID(), Inner: []byte("<priority>" + prio + "</priority>")}
}

func body(b string) *xmpp.Stanza { return message("chat", "<body>"+b+"</body>") }

var bodyRE = regexp.MustCompile(`<body>([^<]*)</body>`)

// received returns the bodies delivered to each full JID, in order.
func received(d []moduletest.Delivery) map[string][]string {
	out := map[string][]string{}
	for _, dl := range d {
		if m := bodyRE.FindSubmatch(dl.Stanza.Inner); m != nil {
			out[dl.To.String()] = append(out[dl.To.String()], string(m[1]))
		}
	}
	return out
}

// storedCount returns how many messages juliet has in storage.
func storedCount(t *testing.T, h *moduletest.Host) int {
	t.Helper()
	msgs, err := messages(context.Background(), h.Storage(), xmpp.MustParseJID(juliet))
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

func deliver(t *testing.T, h *moduletest.Host, full string, st *xmpp.Stanza) {
	t.Helper()
	if err := h.RunDeliver(full, st); err != nil {
		t.Fatal(err)
	}
}

func unrouted(t *testing.T, h *moduletest.Host, st *xmpp.Stanza) {
	t.Helper()
	if err := h.RunUnrouted(st); err != nil {
		t.Fatal(err)
	}
}

// TestLiveMessageWaitsForReplay reproduces the window between the presence
// module making a session available and this module seeing the presence: a
// message delivered in it must come after the stored ones, unless the
// session is not a receiver, which gets it at once and keeps the store for
// later.
func TestLiveMessageWaitsForReplay(t *testing.T) {
	const full = juliet + "/balcony"
	tests := []struct {
		name string
		conf string
		prio string // "" for a session that never becomes available
		want []string
		left int
	}{
		{name: "receiver", prio: "0", want: []string{"one", "two"}},
		{name: "receiver with the store full", conf: "max_per_user: 1", prio: "0", want: []string{"one", "two"}},
		{name: "receiver with a high priority", prio: "5", want: []string{"one", "two"}},
		{name: "negative priority", prio: "-1", want: []string{"two"}, left: 1},
		{name: "never available", want: []string{"two"}, left: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHost(t, tc.conf)
			unrouted(t, h, body("one"))
			s := h.Bind(full)
			p := presence(s, tc.prio)
			if tc.prio != "" {
				s.SetAvailable(p) // the presence module's part, not yet passed on
			}
			deliver(t, h, full, body("two"))
			if tc.prio != "" {
				if err := h.Send(p); err != nil {
					t.Fatal(err)
				}
			}
			if got := received(h.Delivered())[full]; !slices.Equal(got, tc.want) {
				t.Fatalf("received %q, want %q", got, tc.want)
			}
			if n := storedCount(t, h); n != tc.left {
				t.Fatalf("%d messages left stored, want %d", n, tc.left)
			}
		})
	}
}

// TestPriorityBecomesNonNegative checks that a session with a negative
// priority gets messages to its full JID at once and the stored ones only
// when it becomes a receiver, before what it is sent next.
func TestPriorityBecomesNonNegative(t *testing.T) {
	const full = juliet + "/balcony"
	for _, passPresence := range []bool{true, false} {
		t.Run(fmt.Sprintf("presence passed on %v", passPresence), func(t *testing.T) {
			h, _ := newHost(t, "")
			unrouted(t, h, body("one"))
			s := h.Bind(full)
			available(t, h, s, "-1")
			deliver(t, h, full, body("two"))
			p := presence(s, "0")
			s.SetAvailable(p)
			if passPresence {
				if err := h.Send(p); err != nil {
					t.Fatal(err)
				}
			}
			deliver(t, h, full, body("three"))
			if got, want := received(h.Delivered())[full], []string{"two", "one", "three"}; !slices.Equal(got, want) {
				t.Fatalf("received %q, want %q", got, want)
			}
			if n := storedCount(t, h); n != 0 {
				t.Fatalf("%d messages left stored", n)
			}
		})
	}
}

// TestTwoResources makes two sessions of one user receivers at once and
// routes a message to both before either presence reaches the module: the
// stored message goes to one of them only, the new one to each exactly once,
// after the stored one.
func TestTwoResources(t *testing.T) {
	const r1, r2 = juliet + "/one", juliet + "/two"
	h, _ := newHost(t, "")
	unrouted(t, h, body("old"))
	s1, s2 := h.Bind(r1), h.Bind(r2)
	p1, p2 := presence(s1, "0"), presence(s2, "0")
	s1.SetAvailable(p1)
	s2.SetAvailable(p2)
	deliver(t, h, r1, body("new"))
	deliver(t, h, r2, body("new"))
	for _, p := range []*xmpp.Stanza{p2, p1} {
		if err := h.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	got := received(h.Delivered())
	if want := []string{"old", "new"}; !slices.Equal(got[r1], want) {
		t.Fatalf("%s received %q, want %q", r1, got[r1], want)
	}
	if want := []string{"new"}; !slices.Equal(got[r2], want) {
		t.Fatalf("%s received %q, want %q", r2, got[r2], want)
	}
	if n := storedCount(t, h); n != 0 {
		t.Fatalf("%d messages left stored", n)
	}
}

// TestStoredAfterReplay covers a message whose routing found no receiver
// but that reaches the store only after a session became one and had its
// replay: it goes to that session at once, not to the store, where it would
// wait for the next login while later messages went live.
func TestStoredAfterReplay(t *testing.T) {
	const full, low = juliet + "/balcony", juliet + "/low"
	h, _ := newHost(t, "")
	unrouted(t, h, body("one"))
	available(t, h, h.Bind(low), "-1")
	available(t, h, h.Bind(full), "0")
	unrouted(t, h, body("two"))
	deliver(t, h, full, body("three"))
	got := received(h.Delivered())
	if want := []string{"one", "two", "three"}; !slices.Equal(got[full], want) {
		t.Fatalf("received %q, want %q", got[full], want)
	}
	if len(got[low]) != 0 {
		t.Fatalf("negative priority session received %q", got[low])
	}
	if n := storedCount(t, h); n != 0 {
		t.Fatalf("%d messages left stored", n)
	}
}

// TestUnavailableWithoutPresence checks that a session whose availability
// ended without its presence reaching the module (the presence module
// failed after SetAvailable) loses its mark when a message is stored, and
// so is replayed to before its next message once it is a receiver again.
func TestUnavailableWithoutPresence(t *testing.T) {
	const full = juliet + "/balcony"
	h, _ := newHost(t, "")
	s := h.Bind(full)
	available(t, h, s, "0")
	s.SetAvailable(nil)
	unrouted(t, h, body("one"))
	if n := storedCount(t, h); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	s.SetAvailable(presence(s, "0"))
	deliver(t, h, full, body("two"))
	if got, want := received(h.Delivered())[full], []string{"one", "two"}; !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// TestReplayDeliveriesPassThrough checks that the replay's own deliveries,
// which run the Deliver chain again in the server, pass the middleware
// without replaying (the lock is held by the replay).
func TestReplayDeliveriesPassThrough(t *testing.T) {
	h, m := newHost(t, "")
	unrouted(t, h, body("one"))
	s := h.Bind(juliet + "/balcony")
	s.SetAvailable(presence(s, "0"))
	var got []*xmpp.Stanza
	end := modules.HandlerFunc(func(_ context.Context, st *xmpp.Stanza) error {
		got = append(got, st)
		return nil
	})
	ctx := replaying(modules.WithTarget(context.Background(), s))
	if err := m.deliver(end).HandleStanza(ctx, body("two")); err != nil {
		t.Fatal(err)
	}
	delivered, left := len(h.Delivered()), storedCount(t, h)
	if len(got) != 1 || delivered != 0 || left != 1 || replayed(s) {
		t.Fatalf("a replay delivery replayed: passed %d, delivered %d, stored %d, replayed %v",
			len(got), delivered, left, replayed(s))
	}
}

// TestConcurrentLogin routes a stream of messages from one sender the way
// the server does (to the Unrouted stage while the session is not a
// receiver, through the Deliver stage once it is) while the session becomes
// available and its presence is passed on, on another goroutine. Every
// message must arrive once, in order, whatever the interleaving.
func TestConcurrentLogin(t *testing.T) {
	const full, n = juliet + "/balcony", 60
	for round := range 20 {
		h, _ := newHost(t, "")
		s := h.Bind(full)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				st := body(strconv.Itoa(i))
				var err error
				if receiver(s) {
					err = h.RunDeliver(full, st)
				} else {
					err = h.RunUnrouted(st)
				}
				if err != nil {
					t.Errorf("message %d: %v", i, err)
				}
			}
		})
		wg.Go(func() {
			p := presence(s, "0")
			s.SetAvailable(p)
			if err := h.Send(p); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		got := received(h.Delivered())[full]
		for i, b := range got {
			if b != strconv.Itoa(i+1) {
				t.Fatalf("round %d: message %d is %s: %q", round, i+1, b, got)
			}
		}
		if len(got) != n {
			t.Fatalf("round %d: %d messages received, want %d (%d stored)", round, len(got), n, storedCount(t, h))
		}
	}
}
