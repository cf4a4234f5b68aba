package server_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/server/servertest"
)

// TestOfflineReplayOrder sends a burst of numbered chat messages from alice
// to bob's bare JID while bob, bound but not yet available, sends initial
// presence. The first messages are stored offline, the later ones routed
// live; bob must get every one exactly once, in the order alice sent them
// (DESIGN §5: per sender→recipient order).
//
// Nothing here waits for a moment to come: once message 1 is stored, alice
// writes the rest of the burst without waiting and bob's presence goes out
// in the middle of it; the server's reader for alice is still working
// through the burst (storing an offline message costs a durable write) when
// bob's presence is processed, so live routing, storing and the replay
// overlap. Without the ordering rules of modules/offline it fails in most
// runs.
func TestOfflineReplayOrder(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	srv.AddUser(t, "bob@localhost", pw)
	alice := srv.Dial(t, "xmpp")
	alice.Login("localhost", "alice", pw, "a")
	bob := srv.Dial(t, "xmpp")
	bob.Login("localhost", "bob", pw, "b")

	const early, total = 40, 300
	msg := func(i int) string {
		return fmt.Sprintf(`<message to='bob@localhost' type='chat' id='m%d'><body>%d</body></message>`, i, i)
	}
	// Message 1 is surely stored: alice's reader handles her stanzas in
	// order, so it was once her ping is answered.
	alice.Send(msg(1) + `<iq type='get' id='stored'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.Expect(`<iq [^>]*id="stored"`)
	for i := 2; i <= early; i++ {
		alice.Send(msg(i))
	}
	bob.Send(`<presence/>`)
	var rest strings.Builder
	for i := early + 1; i <= total; i++ {
		rest.WriteString(msg(i))
	}
	alice.Send(rest.String())

	// Once alice's last ping is answered, every message has been delivered
	// or stored. Bob's reader replays within his presence, so once his ping
	// is answered everything meant for him is in his stream ahead of it.
	alice.Send(`<iq type='get' id='sync-a'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.Expect(`<iq [^>]*id="sync-a"`)
	bob.Send(`<iq type='get' id='sync-b'><ping xmlns='urn:xmpp:ping'/></iq>`)
	bob.Expect(`<iq [^>]*id="sync-b"`)

	seen := bob.Seen()
	var got []int
	for _, m := range regexp.MustCompile(`<body>(\d+)</body>`).FindAllStringSubmatch(seen, -1) {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	t.Logf("%d of %d messages came from offline storage", strings.Count(seen, "Offline Storage"), len(got))
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("bob's message %d is number %d; from there on: %v", i+1, n, got[i:min(len(got), i+20)])
		}
	}
	if len(got) != total {
		t.Fatalf("bob received %d messages in order, want %d", len(got), total)
	}
}
