package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type connsOpts struct {
	ramp float64
	hold time.Duration
}

func connsFlags(fs *flag.FlagSet) *connsOpts {
	c := &connsOpts{}
	fs.Float64Var(&c.ramp, "ramp", 200, "logins started per second")
	fs.DurationVar(&c.hold, "hold", 10*time.Second, "how long to hold the sessions once all are up")
	return c
}

// connsReport is the result of a conns run.
type connsReport struct {
	Command     string             `json:"command"`
	Requested   int                `json:"requested"`
	Up          int                `json:"sessions_up"`
	Dropped     int                `json:"dropped_during_hold"`
	Failed      int                `json:"failed"`
	Failures    *phaseFailures     `json:"failures"`
	RampSecs    float64            `json:"ramp_seconds"`
	LoginsPerS  float64            `json:"logins_per_second"`
	Login       latency            `json:"login"`
	Phases      map[string]latency `json:"phases"`
	KeyExch     map[string]int     `json:"tls_key_exchange"`
	HoldSecs    float64            `json:"hold_seconds"`
	PBKDF2Runs  int64              `json:"pbkdf2_runs"`
	Memory      *memoryReport      `json:"server_memory,omitempty"`
	Interrupted bool               `json:"interrupted,omitempty"`
}

// memoryReport is the server's memory per session: RSS growth from /proc
// over the sessions that were up, next to the server's own heap and stack
// figures from its metrics.
type memoryReport struct {
	RSSBefore         int64          `json:"rss_before_bytes,omitempty"`
	RSSAfter          int64          `json:"rss_after_bytes,omitempty"`
	RSSPerSession     float64        `json:"rss_per_session_bytes,omitempty"`
	MetricsBefore     *serverMetrics `json:"metrics_before,omitempty"`
	MetricsAfter      *serverMetrics `json:"metrics_after,omitempty"`
	HeapPerSession    float64        `json:"heap_per_session_bytes,omitempty"`
	StackPerSession   float64        `json:"stack_per_session_bytes,omitempty"`
	GoroutinesPerSess float64        `json:"goroutines_per_session,omitempty"`
}

func (r *connsReport) human(w io.Writer) {
	fmt.Fprintf(w, "conns: %d/%d sessions up (%d failed, %d dropped during %.0fs hold); ramp %.1fs, %.0f logins/s; PBKDF2 runs %d\n",
		r.Up, r.Requested, r.Failed, r.Dropped, r.HoldSecs, r.RampSecs, r.LoginsPerS, r.PBKDF2Runs)
	fmt.Fprintf(w, "  login p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.Login.P50, r.Login.P99, r.Login.Max)
	for _, p := range phaseNames {
		if l, ok := r.Phases[p]; ok {
			fmt.Fprintf(w, "    %-9s p50 %.2f ms, p99 %.2f ms\n", p, l.P50, l.P99)
		}
	}
	var kx []string
	for k, n := range r.KeyExch {
		kx = append(kx, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kx)
	fmt.Fprintf(w, "  TLS: %s\n", strings.Join(kx, ", "))
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failures: %s\n", r.Failures)
	}
	if m := r.Memory; m != nil {
		if m.RSSPerSession > 0 {
			fmt.Fprintf(w, "  server RSS %.1f → %.1f MiB: %.1f KiB per session\n",
				float64(m.RSSBefore)/(1<<20), float64(m.RSSAfter)/(1<<20), m.RSSPerSession/1024)
		}
		if m.MetricsAfter != nil {
			fmt.Fprintf(w, "  server heap %.1f KiB, stack %.1f KiB, %.2f goroutines per session (from /metrics)\n",
				m.HeapPerSession/1024, m.StackPerSession/1024, m.GoroutinesPerSess)
		}
	}
}

// session is a logged-in client whose input is drained by a goroutine.
type session struct {
	c    *client
	done chan struct{} // closed when the reader stops
	err  error
}

// drain reads until the connection fails, answering pings and roster
// pushes so the server keeps the session; handle sees every other element.
func (s *session) drain(handle func([]byte)) {
	defer close(s.done)
	for {
		el, err := s.c.sc.next()
		if err != nil {
			s.err = err
			return
		}
		if string(name(el)) == "iq" {
			switch t := string(attr(el, "type")); {
			case t == "get" && child(el, "ping") != nil, t == "set":
				_ = s.c.write([]byte("<iq type='result' id='" + string(attr(el, "id")) + "' to='" + string(attr(el, "from")) + "'/>"))
			}
			continue
		}
		if handle != nil {
			handle(el)
		}
	}
}

// loginAll logs users 0..n-1 in, starting logins at rate per second with
// at most o.parallel in flight; it returns the sessions (nil where the
// login failed) and the login statistics.
func loginAll(ctx context.Context, o *options, rate float64, label string, handle func(k int) func([]byte)) ([]*session, *loginStats) {
	st := &loginStats{fails: newPhaseFailures(), kex: map[string]int{}}
	sessions := make([]*session, o.users)
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	start := time.Now()
	tick, stopTick := o.ticker()
	defer stopTick()
	interval := time.Duration(float64(time.Second) / rate)
	for k := 0; k < o.users && ctx.Err() == nil; k++ {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		select {
		case <-tick:
			o.progressf("%s: %d up, %d failed, %d started of %d (%.0fs)", label, st.up.Load(), st.failed.Load(), k, o.users, time.Since(start).Seconds())
		default:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t := time.Now()
			c, err := login(ctx, o.cc, k, o.user(k))
			if err != nil {
				st.fail(err)
				return
			}
			st.ok(c, time.Since(t))
			s := &session{c: c, done: make(chan struct{})}
			sessions[k] = s
			var h func([]byte)
			if handle != nil {
				h = handle(k)
			}
			go s.drain(h)
		})
	}
	wg.Wait()
	st.secs = time.Since(start).Seconds()
	return sessions, st
}

type loginStats struct {
	mu     sync.Mutex
	fails  *phaseFailures
	kex    map[string]int
	up     atomic.Int64
	failed atomic.Int64
	total  hist
	phases [numPhases]hist
	secs   float64
}

func (st *loginStats) fail(err error) {
	st.failed.Add(1)
	st.mu.Lock()
	st.fails.add(err)
	st.mu.Unlock()
}

func (st *loginStats) ok(c *client, d time.Duration) {
	st.up.Add(1)
	st.total.record(d)
	for p := range numPhases {
		if p != phRegister {
			st.phases[p].record(c.phase[p])
		}
	}
	st.mu.Lock()
	st.kex[kex(c.tls)]++
	st.mu.Unlock()
}

func closeAll(sessions []*session) {
	for _, s := range sessions {
		if s != nil {
			s.c.close()
			<-s.done
		}
	}
}

// runConns opens o.users sessions at the ramp rate, holds them, and
// reports login latency and the server's memory per session.
func runConns(ctx context.Context, o *options, c *connsOpts) (*connsReport, error) {
	if c.ramp <= 0 || c.hold < 0 || c.hold > maxDuration {
		return nil, errors.New("--ramp must be positive and --hold in 0..1h")
	}
	rep := &connsReport{Command: "conns", Requested: o.users, Phases: map[string]latency{}}
	mem := &memoryReport{}
	if o.serverPID > 0 {
		rss, err := procRSS(o.serverPID)
		if err != nil {
			return nil, err
		}
		mem.RSSBefore = rss
	}
	if o.metricsURL != "" {
		m, err := scrapeMetrics(ctx, o.metricsURL)
		if err != nil {
			return nil, err
		}
		mem.MetricsBefore = m
	}
	sessions, st := loginAll(ctx, o, c.ramp, "conns", nil)
	defer closeAll(sessions)
	rep.Up, rep.Failed, rep.Failures, rep.KeyExch = int(st.up.Load()), int(st.failed.Load()), st.fails, st.kex
	rep.RampSecs = st.secs
	rep.LoginsPerS = float64(rep.Up) / st.secs
	rep.Login = st.total.summary(false)
	for p := range numPhases {
		if st.phases[p].n.Load() > 0 {
			rep.Phases[phaseNames[p]] = st.phases[p].summary(false)
		}
	}
	rep.PBKDF2Runs = o.cc.keys.runs.Load()

	holdStart := time.Now()
	tick, stopTick := o.ticker()
	defer stopTick()
	timer := time.NewTimer(c.hold)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-timer.C:
			waiting = false
		case <-tick:
			o.progressf("conns: holding %d sessions, %d dropped (%.0fs of %.0fs)", rep.Up, dropped(sessions), time.Since(holdStart).Seconds(), c.hold.Seconds())
		}
	}
	rep.HoldSecs = time.Since(holdStart).Seconds()
	rep.Dropped = dropped(sessions)
	if o.serverPID > 0 {
		if rss, err := procRSS(o.serverPID); err == nil {
			mem.RSSAfter = rss
			if rep.Up > 0 {
				mem.RSSPerSession = float64(mem.RSSAfter-mem.RSSBefore) / float64(rep.Up)
			}
		}
	}
	if o.metricsURL != "" {
		if m, err := scrapeMetrics(ctx, o.metricsURL); err == nil {
			mem.MetricsAfter = m
			if rep.Up > 0 && mem.MetricsBefore != nil {
				n := float64(rep.Up)
				mem.HeapPerSession = (m.HeapInuse - mem.MetricsBefore.HeapInuse) / n
				mem.StackPerSession = (m.StackInuse - mem.MetricsBefore.StackInuse) / n
				mem.GoroutinesPerSess = (m.Goroutines - mem.MetricsBefore.Goroutines) / n
			}
		}
	}
	if o.serverPID > 0 || o.metricsURL != "" {
		rep.Memory = mem
	}
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// dropped counts sessions whose connection ended on its own.
func dropped(sessions []*session) int {
	n := 0
	for _, s := range sessions {
		if s == nil {
			continue
		}
		select {
		case <-s.done:
			n++
		default:
		}
	}
	return n
}
