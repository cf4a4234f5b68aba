package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// hist is a lock-free log-linear latency histogram of microseconds: 32
// sub-buckets per power of two, so a reported percentile is within ~3% of
// the true value. Recording is one atomic add.
type hist struct {
	counts [64 * subBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const subBits = 5
const subBuckets = 1 << subBits

func bucketOf(us int64) int {
	if us < subBuckets {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	e := bits.Len64(uint64(us)) - subBits // ≥ 1
	return e*subBuckets + int(uint64(us)>>(e-1)) - subBuckets
}

// bucketValue is the upper bound (µs) of bucket b.
func bucketValue(b int) int64 {
	if b < 2*subBuckets {
		return int64(b)
	}
	e := b/subBuckets - 1
	m := int64(b%subBuckets + subBuckets)
	return (m+1)<<e - 1
}

func (h *hist) record(d time.Duration) {
	us := d.Microseconds()
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// quantile returns the q-quantile (0 < q ≤ 1) in milliseconds.
func (h *hist) quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			v := bucketValue(b)
			if m := h.max.Load(); v > m {
				v = m
			}
			return float64(v) / 1000
		}
	}
	return float64(h.max.Load()) / 1000
}

// latency is a histogram's summary in milliseconds.
type latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms,omitempty"`
	Max   float64 `json:"max_ms"`
}

func (h *hist) summary(withP999 bool) latency {
	l := latency{Count: h.n.Load(), P50: h.quantile(0.5), P99: h.quantile(0.99), Max: float64(h.max.Load()) / 1000}
	if withP999 {
		l.P999 = h.quantile(0.999)
	}
	return l
}

// clockTicks is USER_HZ, the unit of /proc CPU times. It is 100 on every
// Linux architecture Go supports; reading it needs sysconf (cgo).
const clockTicks = 100

// procCPU returns a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("parley-bench: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("parley-bench: malformed stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("parley-bench: short stat line")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("parley-bench: malformed stat times")
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// procRSS returns a process's resident set size in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("parley-bench: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parley-bench: VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("parley-bench: no VmRSS in /proc status")
}

// machineCPU returns the busy CPU time of the whole machine from /proc/stat
// (user+nice+system+irq+softirq+steal).
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("parley-bench: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("parley-bench: malformed /proc/stat")
	}
	var busy int64
	for _, k := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0, errors.New("parley-bench: malformed /proc/stat")
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// cpuSample is a snapshot of the CPU times the reports compare.
type cpuSample struct {
	at      time.Time
	server  time.Duration // -1 without a server pid
	self    time.Duration
	machine time.Duration
}

func sampleCPU(serverPID int) cpuSample {
	s := cpuSample{at: time.Now(), server: -1}
	if serverPID > 0 {
		if d, err := procCPU(serverPID); err == nil {
			s.server = d
		}
	}
	s.self, _ = procCPU(os.Getpid())
	s.machine, _ = machineCPU()
	return s
}

// cores is the CPU used between two samples, in cores (CPU-seconds per
// second).
type cores struct {
	Server    float64 `json:"server,omitempty"`
	Generator float64 `json:"generator"`
	Other     float64 `json:"other"`
}

func coresBetween(a, b cpuSample) cores {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return cores{}
	}
	c := cores{Generator: (b.self - a.self).Seconds() / wall}
	other := (b.machine-a.machine).Seconds()/wall - c.Generator
	if a.server >= 0 && b.server >= 0 {
		c.Server = (b.server - a.server).Seconds() / wall
		other -= c.Server
	}
	c.Other = max(other, 0)
	return c
}

// serverMetrics are the figures read from the server's Prometheus
// endpoint (any Go server with the standard collectors has them).
type serverMetrics struct {
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	StackInuse float64 `json:"stack_inuse_bytes"`
	Goroutines float64 `json:"goroutines"`
	Sessions   float64 `json:"sessions,omitempty"`
}

var metricNames = map[string]func(*serverMetrics) *float64{
	"go_memstats_heap_inuse_bytes":  func(m *serverMetrics) *float64 { return &m.HeapInuse },
	"go_memstats_stack_inuse_bytes": func(m *serverMetrics) *float64 { return &m.StackInuse },
	"go_goroutines":                 func(m *serverMetrics) *float64 { return &m.Goroutines },
	"parley_sessions":               func(m *serverMetrics) *float64 { return &m.Sessions },
}

// scrapeMetrics reads url (a Prometheus text endpoint on loopback).
func scrapeMetrics(ctx context.Context, url string) (*serverMetrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("parley-bench: metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("parley-bench: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("parley-bench: metrics: %s", resp.Status)
	}
	m := &serverMetrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if f := metricNames[k]; f != nil {
			if x, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				*f(m) = x
			}
		}
	}
	return m, sc.Err()
}
