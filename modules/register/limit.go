package register

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// limiter counts registrations per client address over a sliding window.
// It keeps only addresses that registered within the window, so its size
// is bounded by the registrations it allowed.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	seen  map[netip.Prefix][]time.Time // ascending
	swept time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, now: time.Now, seen: map[netip.Prefix][]time.Time{}}
}

// keyOf groups addresses the way one client holds them: an IPv4 address
// alone, IPv6 by /64.
func keyOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// reserve takes a registration slot for a; release gives it back if the
// registration then fails. ok is false when a has used its slots.
func (l *limiter) reserve(a netip.Addr) (release func(), ok bool) {
	now := l.now()
	key := keyOf(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.window {
		for k, ts := range l.seen {
			if l.prune(k, ts, now) == 0 {
				delete(l.seen, k)
			}
		}
		l.swept = now
	}
	if l.prune(key, l.seen[key], now) >= l.max {
		return nil, false
	}
	l.seen[key] = append(l.seen[key], now)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		ts := l.seen[key]
		if i := slices.Index(ts, now); i >= 0 {
			ts = slices.Delete(ts, i, i+1)
		}
		if len(ts) == 0 {
			delete(l.seen, key)
		} else {
			l.seen[key] = ts
		}
	}, true
}

// prune drops the times of key older than the window and returns how many
// are left. l.mu must be held.
func (l *limiter) prune(key netip.Prefix, ts []time.Time, now time.Time) int {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	if i > 0 {
		ts = ts[i:]
		if len(ts) == 0 {
			delete(l.seen, key)
		} else {
			l.seen[key] = ts
		}
	}
	return len(ts)
}
