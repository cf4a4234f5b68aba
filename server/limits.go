package server

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

// fileLimit raises the soft open-file limit to the hard one and returns it.
// On this project's machines the hard limit is 20,000 and cannot be raised
// (DESIGN §9), so the session cap is derived from it.
func fileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("server: getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("server: raise open-file limit: %w", err)
		}
	}
	return rl.Cur, nil
}

// sessionCap is the number of client connections the server accepts: the
// configured cap, or the open-file limit minus the reserve kept for the
// store, listeners, plugins and outbound connections.
func sessionCap(configured int, limit uint64, reserve int) int {
	if configured > 0 {
		return configured
	}
	if limit > uint64(reserve)+64 {
		return int(limit) - reserve
	}
	return 64
}

// bucket is a token bucket. It is not safe for concurrent use: each session
// owns one and only its reader goroutine touches it.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take removes one token and returns how long to wait before acting, zero
// when a token was available. A zero rate means unlimited.
func (b *bucket) take(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// counter counts live connections against the cap.
type counter struct {
	mu  sync.Mutex
	n   int
	cap int
}

func (c *counter) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.cap {
		return false
	}
	c.n++
	return true
}

func (c *counter) release() {
	c.mu.Lock()
	c.n--
	c.mu.Unlock()
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
