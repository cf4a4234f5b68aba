package auth

import (
	"context"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Rate is a token bucket: Burst tokens at most, refilled at PerSecond. A
// failed login costs one token. Burst 0 disables the limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Default rates: an address may fail 10 times at once and then once every
// 6 seconds (600 an hour, across all the accounts it tries); an account may
// fail 5 times and then once a minute, from all addresses together.
var (
	DefaultIPRate      = Rate{PerSecond: 1.0 / 6, Burst: 10}
	DefaultAccountRate = Rate{PerSecond: 1.0 / 60, Burst: 5}
)

const (
	// limiterShards splits each table so that logins on two cores rarely
	// wait for the same mutex.
	limiterShards = 16
	// maxBuckets bounds each table. Beyond it, idle buckets are swept and
	// then arbitrary ones dropped: memory stays bounded under a flood of
	// addresses or usernames, at the price of forgetting some debts.
	maxBuckets = 1 << 16
	// sweepEvery is how often a shard drops its idle buckets.
	sweepEvery = time.Minute
	// knownFor is how long an address that logged in to an account stays
	// exempt from that account's bucket; knownMax bounds how many
	// addresses an account remembers.
	knownFor = 24 * time.Hour
	knownMax = 4
)

// Limiter limits failed logins per remote address and per account (see the
// package documentation for the policy). A nil or zero Limiter limits
// nothing. It is safe for concurrent use.
type Limiter struct {
	ips      *buckets[netip.Addr]
	accounts *buckets[string]
	now      func() time.Time // nil: time.Now; set by tests
}

func (l *Limiter) clock() time.Time {
	if l.now == nil {
		return time.Now()
	}
	return l.now()
}

// NewLimiter returns a Limiter with the given rates.
func NewLimiter(perIP, perAccount Rate) *Limiter {
	return &Limiter{ips: newBuckets[netip.Addr](perIP), accounts: newBuckets[string](perAccount)}
}

type remoteIPKey struct{}

// WithRemoteIP returns ctx carrying the client's address, which the
// Limiter keys its per-address buckets by. Without it, only the
// per-account limit applies.
func WithRemoteIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, remoteIPKey{}, ip)
}

// remoteIP returns the bucket key of the client's address: IPv4 addresses
// whole, IPv6 ones by their /64, since one host commonly holds a whole /64.
func remoteIP(ctx context.Context) (netip.Addr, bool) {
	ip, ok := ctx.Value(remoteIPKey{}).(netip.Addr)
	if !ok || !ip.IsValid() {
		return netip.Addr{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// attempt is the reservation of one login attempt: the tokens it took,
// kept if it fails or is abandoned and given back if it succeeds.
type attempt struct {
	l         *Limiter
	ip        netip.Addr
	hasIP     bool
	account   string
	ipTaken   bool
	acctTaken bool
}

// begin reserves a token for an attempt on account (a normalised bare JID)
// from the address in ctx. It reports false if either bucket is empty,
// taking nothing then.
func (l *Limiter) begin(ctx context.Context, account string) (attempt, bool) {
	a := attempt{l: l, account: account}
	if l == nil {
		return a, true
	}
	a.ip, a.hasIP = remoteIP(ctx)
	now := l.clock()
	if a.hasIP && l.ips != nil {
		if !l.ips.update(a.ip, now, (*bucket).take) {
			return a, false
		}
		a.ipTaken = true
	}
	if l.accounts != nil {
		ok := l.accounts.update(account, now, func(b *bucket, now time.Time) bool {
			if a.hasIP && b.knows(a.ip, now) {
				return true
			}
			a.acctTaken = b.take(now)
			return a.acctTaken
		})
		if !ok {
			if a.ipTaken {
				l.ips.update(a.ip, now, (*bucket).refund)
				a.ipTaken = false
			}
			return a, false
		}
	}
	return a, true
}

// succeeded gives the attempt's tokens back and remembers the address as
// one the account logs in from.
func (a *attempt) succeeded() {
	l := a.l
	if l == nil {
		return
	}
	now := l.clock()
	if a.ipTaken {
		l.ips.update(a.ip, now, (*bucket).refund)
	}
	if l.accounts != nil {
		l.accounts.update(a.account, now, func(b *bucket, now time.Time) bool {
			if a.acctTaken {
				b.refund(now)
			}
			if a.hasIP {
				b.remember(a.ip, now)
			}
			return true
		})
	}
	a.ipTaken, a.acctTaken = false, false
}

// bucket is one token bucket; for accounts it also lists the addresses
// the account logged in from.
type bucket struct {
	tokens float64
	at     time.Time // of the last refill
	known  []knownAddr
}

type knownAddr struct {
	ip netip.Addr
	at time.Time
}

func (b *bucket) take(time.Time) bool {
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refund(time.Time) bool {
	b.tokens++
	return true
}

func (b *bucket) knows(ip netip.Addr, now time.Time) bool {
	for _, k := range b.known {
		if k.ip == ip && now.Sub(k.at) < knownFor {
			return true
		}
	}
	return false
}

// remember records ip, replacing the oldest address beyond knownMax.
func (b *bucket) remember(ip netip.Addr, now time.Time) {
	oldest := -1
	for i, k := range b.known {
		if k.ip == ip {
			b.known[i].at = now
			return
		}
		if oldest < 0 || k.at.Before(b.known[oldest].at) {
			oldest = i
		}
	}
	if len(b.known) < knownMax {
		b.known = append(b.known, knownAddr{ip, now})
		return
	}
	b.known[oldest] = knownAddr{ip, now}
}

// buckets is a bounded table of buckets, sharded by key.
type buckets[K comparable] struct {
	rate   Rate
	seed   maphash.Seed
	shards [limiterShards]shard[K]
}

type shard[K comparable] struct {
	mu    sync.Mutex
	m     map[K]*bucket
	swept time.Time
}

func newBuckets[K comparable](r Rate) *buckets[K] {
	if r.Burst <= 0 {
		return nil
	}
	t := &buckets[K]{rate: r, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[K]*bucket{}
	}
	return t
}

// update refills key's bucket (a new one starts full), calls f on it and
// returns f's result.
func (t *buckets[K]) update(key K, now time.Time, f func(b *bucket, now time.Time) bool) bool {
	s := &t.shards[maphash.Comparable(t.seed, key)%limiterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[key]
	if b == nil {
		if len(s.m) >= maxBuckets/limiterShards || now.Sub(s.swept) >= sweepEvery {
			t.sweep(s, now)
		}
		b = &bucket{tokens: float64(t.rate.Burst), at: now}
		s.m[key] = b
	} else {
		t.refill(b, now)
	}
	return f(b, now)
}

func (t *buckets[K]) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens += d.Seconds() * t.rate.PerSecond
		b.at = now
	}
	if max := float64(t.rate.Burst); b.tokens > max {
		b.tokens = max
	}
}

// sweep drops the buckets that are full and remember no address: they are
// what a new bucket would be. If the shard is still full, it drops
// arbitrary buckets down to three quarters of its share. s.mu must be held.
func (t *buckets[K]) sweep(s *shard[K], now time.Time) {
	s.swept = now
	for k, b := range s.m {
		t.refill(b, now)
		b.known = dropStale(b.known, now)
		if b.tokens >= float64(t.rate.Burst) && len(b.known) == 0 {
			delete(s.m, k)
		}
	}
	limit := maxBuckets / limiterShards * 3 / 4
	for k := range s.m {
		if len(s.m) <= limit {
			break
		}
		delete(s.m, k)
	}
}

func dropStale(known []knownAddr, now time.Time) []knownAddr {
	out := known[:0]
	for _, k := range known {
		if now.Sub(k.at) < knownFor {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
