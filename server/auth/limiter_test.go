package auth

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is the Limiter's clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLimiter(perIP, perAccount Rate) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(perIP, perAccount)
	l.now = c.now
	return l, c
}

func fromIP(ip string) context.Context {
	return WithRemoteIP(context.Background(), netip.MustParseAddr(ip))
}

// login runs one exchange with the mellium client.
func login(t *testing.T, ms map[string]Mechanism, ctx context.Context, mech, user, password string) string {
	t.Helper()
	_, err := exchange(ctx, ms[mech].NewServer(testDomain, true), clientFor(mech, user, password, ""))
	return condition(t, err)
}

func TestLimiterPerIP(t *testing.T) {
	lim, clock := newTestLimiter(Rate{PerSecond: 0.5, Burst: 3}, Rate{})
	_, be, ms := newTestMechanisms(t, lim)
	attacker := fromIP("192.0.2.1")
	for i := range 3 {
		if got := login(t, ms, attacker, "PLAIN", "alice", "guess"); got != CondNotAuthorized {
			t.Fatalf("failure %d: %q, want not-authorized", i, got)
		}
	}
	reads := be.gets.Load()
	// Refused before any storage read or PBKDF2, even with the password.
	if got := login(t, ms, attacker, "PLAIN", "alice", "pencil"); got != CondTemporaryAuthFailure {
		t.Fatalf("after the burst: %q, want temporary-auth-failure", got)
	}
	if got := login(t, ms, attacker, "SCRAM-SHA-256", "jürgen", "pässwörd ✓"); got != CondTemporaryAuthFailure {
		t.Fatalf("after the burst, another account: %q, want temporary-auth-failure", got)
	}
	if n := be.gets.Load(); n != reads {
		t.Fatalf("refused attempts read storage %d times", n-reads)
	}
	if got := login(t, ms, fromIP("192.0.2.2"), "PLAIN", "alice", "pencil"); got != "" {
		t.Fatalf("another address: %q, want success", got)
	}
	clock.advance(1900 * time.Millisecond) // 0.95 tokens
	if got := login(t, ms, attacker, "PLAIN", "alice", "pencil"); got != CondTemporaryAuthFailure {
		t.Fatalf("before a token refilled: %q, want temporary-auth-failure", got)
	}
	clock.advance(100 * time.Millisecond)
	if got := login(t, ms, attacker, "PLAIN", "alice", "pencil"); got != "" {
		t.Fatalf("after a token refilled: %q, want success", got)
	}
}

// TestLimiterSuccessIsFree: logging in normally, over and over, from one
// address never drains a bucket.
func TestLimiterSuccessIsFree(t *testing.T) {
	lim, _ := newTestLimiter(Rate{PerSecond: 0.001, Burst: 2}, Rate{PerSecond: 0.001, Burst: 2})
	_, _, ms := newTestMechanisms(t, lim)
	ctx := fromIP("198.51.100.7")
	for i := range 10 {
		if got := login(t, ms, ctx, "SCRAM-SHA-1", "alice", "pencil"); got != "" {
			t.Fatalf("login %d: %q, want success", i, got)
		}
	}
	// One failure costs one token; the burst still allows a success.
	login(t, ms, ctx, "SCRAM-SHA-1", "alice", "wrong")
	if got := login(t, ms, ctx, "SCRAM-SHA-1", "alice", "pencil"); got != "" {
		t.Fatalf("after one failure: %q, want success", got)
	}
}

// TestLimiterPerAccount: guessing one account's password from many
// addresses runs into the account's bucket.
func TestLimiterPerAccount(t *testing.T) {
	lim, clock := newTestLimiter(Rate{PerSecond: 1, Burst: 100}, Rate{PerSecond: 1.0 / 60, Burst: 3})
	_, _, ms := newTestMechanisms(t, lim)
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"} {
		if got := login(t, ms, fromIP(ip), "SCRAM-SHA-256", "alice", "guess"); got != CondNotAuthorized {
			t.Fatalf("failure %d: %q, want not-authorized", i, got)
		}
	}
	tests := []struct {
		name string
		ctx  context.Context
		user string
		want string
	}{
		{name: "account from a new address", ctx: fromIP("203.0.113.9"), user: "alice", want: CondTemporaryAuthFailure},
		{name: "account with no address", ctx: context.Background(), user: "ALICE", want: CondTemporaryAuthFailure},
		{name: "other account from an attacking address", ctx: fromIP("192.0.2.1"), user: "jürgen", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			password := testUsers[tc.user+"@localhost"]
			if password == "" {
				password = testUsers["alice@localhost"]
			}
			if got := login(t, ms, tc.ctx, "PLAIN", tc.user, password); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	clock.advance(time.Minute)
	if got := login(t, ms, fromIP("203.0.113.9"), "PLAIN", "alice", "pencil"); got != "" {
		t.Fatalf("after a minute: %q, want success", got)
	}
}

// TestLimiterKnownAddress: the owner, logging in from an address that has
// logged in before, is not locked out by guesses from elsewhere.
func TestLimiterKnownAddress(t *testing.T) {
	lim, clock := newTestLimiter(Rate{PerSecond: 1, Burst: 100}, Rate{PerSecond: 0, Burst: 2})
	_, _, ms := newTestMechanisms(t, lim)
	owner := fromIP("2001:db8:1:2:aaaa::1")
	if got := login(t, ms, owner, "PLAIN", "alice", "pencil"); got != "" {
		t.Fatalf("owner's first login: %q", got)
	}
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		login(t, ms, fromIP(ip), "PLAIN", "alice", "guess")
	}
	if got := login(t, ms, fromIP("192.0.2.3"), "PLAIN", "alice", "pencil"); got != CondTemporaryAuthFailure {
		t.Fatalf("new address: %q, want temporary-auth-failure", got)
	}
	// Same /64, another interface identifier (privacy addresses).
	if got := login(t, ms, fromIP("2001:db8:1:2:bbbb::7"), "PLAIN", "alice", "pencil"); got != "" {
		t.Fatalf("owner's address: %q, want success", got)
	}
	clock.advance(knownFor)
	if got := login(t, ms, owner, "PLAIN", "alice", "pencil"); got != CondTemporaryAuthFailure {
		t.Fatalf("owner's address after %v: %q, want temporary-auth-failure", knownFor, got)
	}
}

// TestLimiterManyAccounts: guessing many accounts from one address runs
// into the address's bucket.
func TestLimiterManyAccounts(t *testing.T) {
	lim, _ := newTestLimiter(Rate{PerSecond: 0.1, Burst: 3}, Rate{PerSecond: 0.1, Burst: 3})
	_, _, ms := newTestMechanisms(t, lim)
	ctx := fromIP("192.0.2.1")
	for _, u := range []string{"alice", "bob", "carol"} {
		if got := login(t, ms, ctx, "PLAIN", u, "guess"); got != CondNotAuthorized {
			t.Fatalf("%s: %q, want not-authorized", u, got)
		}
	}
	if got := login(t, ms, ctx, "PLAIN", "jürgen", "pässwörd ✓"); got != CondTemporaryAuthFailure {
		t.Fatalf("fourth account: %q, want temporary-auth-failure", got)
	}
}

// TestLimiterSCRAMCountsAtChallenge: a SCRAM attempt takes its token
// before the challenge, so abandoned exchanges count.
func TestLimiterSCRAMCountsAtChallenge(t *testing.T) {
	lim, _ := newTestLimiter(Rate{PerSecond: 0.1, Burst: 2}, Rate{})
	_, _, ms := newTestMechanisms(t, lim)
	ctx := fromIP("192.0.2.1")
	for i := range 2 {
		if _, _, _, err := ms["SCRAM-SHA-256"].NewServer(testDomain, true).Step(ctx, []byte("n,,n=alice,r=abc")); err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
	}
	_, _, _, err := ms["SCRAM-SHA-256"].NewServer(testDomain, true).Step(ctx, []byte("n,,n=alice,r=abc"))
	if got := condition(t, err); got != CondTemporaryAuthFailure {
		t.Fatalf("third challenge: %q, want temporary-auth-failure", got)
	}
}

func TestRemoteIPKey(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		shared bool
	}{
		{name: "same ipv4", a: "192.0.2.1", b: "192.0.2.1", shared: true},
		{name: "neighbour ipv4", a: "192.0.2.1", b: "192.0.2.2", shared: false},
		{name: "ipv4-mapped", a: "::ffff:192.0.2.1", b: "192.0.2.1", shared: true},
		{name: "same /64", a: "2001:db8::1", b: "2001:db8::ffff:2", shared: true},
		{name: "zone", a: "fe80::1%eth0", b: "fe80::2", shared: true},
		{name: "other /64", a: "2001:db8::1", b: "2001:db8:0:1::1", shared: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, okA := remoteIP(fromIP(tc.a))
			b, okB := remoteIP(fromIP(tc.b))
			if !okA || !okB || (a == b) != tc.shared {
				t.Fatalf("keys %v, %v (shared %v), want shared %v", a, b, a == b, tc.shared)
			}
		})
	}
	if _, ok := remoteIP(context.Background()); ok {
		t.Fatal("remoteIP found an address in an empty context")
	}
}

// TestLimiterBounded floods the limiter with addresses and usernames and
// checks the tables stay within maxBuckets, and that idle buckets go.
func TestLimiterBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the limiter")
	}
	lim, clock := newTestLimiter(Rate{PerSecond: 1, Burst: 5}, Rate{PerSecond: 1, Burst: 5})
	count := func() (ips, accounts int) {
		for i := range limiterShards {
			ips += len(lim.ips.shards[i].m)
			accounts += len(lim.accounts.shards[i].m)
		}
		return
	}
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range maxBuckets + maxBuckets/4 {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		ctx := WithRemoteIP(context.Background(), netip.AddrFrom4(a))
		if _, ok := lim.begin(ctx, string(a[:])+"@localhost"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if ips, accounts := count(); ips > maxBuckets || accounts > maxBuckets {
		t.Fatalf("%d address and %d account buckets, want at most %d", ips, accounts, maxBuckets)
	}
	// Once refilled, buckets are idle and the next sweep of each shard
	// drops them.
	clock.advance(sweepEvery)
	for i := range 1000 {
		ctx := WithRemoteIP(context.Background(), netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}))
		lim.begin(ctx, "new"+string(rune(i))+"@localhost")
	}
	if ips, accounts := count(); ips > 1000 || accounts > 1000 {
		t.Fatalf("after the sweep: %d address and %d account buckets, want at most 1000", ips, accounts)
	}
}
