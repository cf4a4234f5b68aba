package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type msgsOpts struct {
	rates    string
	step     time.Duration
	drain    time.Duration
	size     string
	contacts int
	ramp     float64
}

func msgsFlags(fs *flag.FlagSet) *msgsOpts {
	m := &msgsOpts{}
	fs.StringVar(&m.rates, "rates", "200,500,1000", "comma-separated total send rates (messages/s), one step each")
	fs.DurationVar(&m.step, "step", 10*time.Second, "duration of each rate step (30s for a 'sustainable' verdict)")
	fs.DurationVar(&m.drain, "drain", 2*time.Second, "after a step, how long to wait for its last messages")
	fs.StringVar(&m.size, "size", "minimal", "stanza: minimal (~140 B) or modern (~530 B: receipt request, markable, origin-id, chat state)")
	fs.IntVar(&m.contacts, "contacts", 20, "each sender writes to the next N users in turn")
	fs.Float64Var(&m.ramp, "ramp", 200, "logins started per second before the first step")
	return m
}

// Stanza sizes: the body is padded so the whole stanza has this length.
const (
	minimalSize = 140
	modernSize  = 530
	// SustainableP99 and SustainableSecs define "max sustainable rate".
	sustainableP99  = 10.0 // ms
	sustainableSecs = 30
	maxSteps        = 50
	maxRate         = 1_000_000
)

// msgsReport is the result of a msgs run.
type msgsReport struct {
	Command        string       `json:"command"`
	Users          int          `json:"users"`
	SessionsUp     int          `json:"sessions_up"`
	LoginFailures  int          `json:"login_failures"`
	Size           string       `json:"size"`
	StanzaBytes    int          `json:"stanza_bytes"`
	Steps          []stepReport `json:"steps"`
	MaxSustainable float64      `json:"max_sustainable_rate"`
	Verdict        string       `json:"verdict"`
	Interrupted    bool         `json:"interrupted,omitempty"`
}

// stepReport is one rate step.
type stepReport struct {
	Rate          float64 `json:"target_rate"`
	Seconds       float64 `json:"seconds"`
	Sent          int64   `json:"sent"`
	SendErrors    int64   `json:"send_errors"`
	Delivered     int64   `json:"delivered"`
	DeliveredRate float64 `json:"delivered_per_second"`
	Latency       latency `json:"latency"`
	Lost          int64   `json:"lost"`
	Duplicated    int64   `json:"duplicated"`
	OutOfOrder    int64   `json:"out_of_order"`
	Bounced       int64   `json:"bounced"`
	ServerCPUPerK float64 `json:"server_cpu_seconds_per_1000,omitempty"`
	Cores         cores   `json:"cores"`
}

func (r *msgsReport) human(w io.Writer) {
	fmt.Fprintf(w, "msgs: %d/%d users online, %s stanzas of %d B\n", r.SessionsUp, r.Users, r.Size, r.StanzaBytes)
	fmt.Fprintf(w, "  %8s %9s %9s %8s %8s %8s %6s %5s %5s %9s %s\n",
		"rate", "sent", "deliv/s", "p50 ms", "p99 ms", "p999 ms", "lost", "dup", "ooo", "srv cpu/k", "cores srv/gen/other")
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %8.0f %9d %9.0f %8.2f %8.2f %8.2f %6d %5d %5d %9.3f %.2f/%.2f/%.2f\n",
			s.Rate, s.Sent, s.DeliveredRate, s.Latency.P50, s.Latency.P99, s.Latency.P999,
			s.Lost, s.Duplicated, s.OutOfOrder, s.ServerCPUPerK, s.Cores.Server, s.Cores.Generator, s.Cores.Other)
	}
	fmt.Fprintf(w, "  max sustainable rate: %.0f msgs/s (%s)\n", r.MaxSustainable, r.Verdict)
}

// stepStats are one step's counters, shared by senders and receivers.
type stepStats struct {
	sent, sendErrs, delivered, dups, ooo, bounced atomic.Int64
	lat                                           hist
}

// seen records which sequence numbers of one sender have arrived.
type seen struct {
	mu   sync.Mutex
	bits []uint64
}

// mark sets seq and reports whether it was new.
func (s *seen) mark(seq int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := int(seq >> 6)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits)+len(s.bits)/2)...)
	}
	b := uint64(1) << (seq & 63)
	if s.bits[w]&b != 0 {
		return false
	}
	s.bits[w] |= b
	return true
}

// msgRun is the state of a msgs run.
type msgRun struct {
	o        *options
	m        *msgsOpts
	contacts int
	steps    []*stepStats
	seen     []seen  // per sender
	next     []int64 // per sender: its next sequence number (its goroutine only)
	tmpl     func(dst []byte, to string, id, body []byte) []byte
	jids     []string  // bare JID of each user
	t0       time.Time // due times in bodies count from here (monotonic clock)
	run      int64     // random tag of this run, in every body
	bodyLen  int
}

// runMsgs logs o.users users in, then has them send 1:1 chat to each
// other in an open loop at each rate step: every message has an intended
// send time fixed by the schedule, and its latency is measured from that
// time, so a generator that falls behind shows up as latency rather than
// as a lower rate. Each body carries the step, the sender, the sender's
// sequence number and the intended send time, from which the receivers
// count losses, duplicates and reordering per sender.
func runMsgs(ctx context.Context, o *options, m *msgsOpts) (*msgsReport, error) {
	rates, err := parseRates(m.rates)
	if err != nil {
		return nil, err
	}
	switch {
	case o.users < 2:
		return nil, errors.New("msgs needs at least 2 users")
	case m.step <= 0 || m.step > maxDuration || m.drain < 0 || m.drain > time.Minute:
		return nil, errors.New("--step must be in (0, 1h] and --drain in [0, 1m]")
	case m.contacts < 1 || m.ramp <= 0:
		return nil, errors.New("--contacts and --ramp must be positive")
	}
	r := &msgRun{o: o, m: m, contacts: min(m.contacts, o.users-1), seen: make([]seen, o.users), next: make([]int64, o.users)}
	for range rates {
		r.steps = append(r.steps, &stepStats{})
	}
	rep := &msgsReport{Command: "msgs", Users: o.users, Size: m.size}
	switch m.size {
	case "minimal":
		r.tmpl, rep.StanzaBytes = minimalStanza, minimalSize
	case "modern":
		r.tmpl, rep.StanzaBytes = modernStanza, modernSize
	default:
		return nil, fmt.Errorf("--size %q: want minimal or modern", m.size)
	}
	// The body length that makes the stanza the nominal size, measured on
	// the longest names of the run.
	longest := o.user(o.users - 1)
	r.bodyLen = max(rep.StanzaBytes-len(r.tmpl(nil, longest+"@"+o.domain, []byte("m-000000000"), nil)), 48)

	r.t0 = time.Now()
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	r.run = int64(binary.BigEndian.Uint32(tag[:]))
	r.jids = make([]string, o.users)
	for k := range r.jids {
		r.jids[k] = o.user(k) + "@" + o.domain
	}
	sessions, st := loginAll(ctx, o, m.ramp, "msgs login", func(k int) func([]byte) { return r.receiver(k) })
	defer closeAll(sessions)
	rep.SessionsUp, rep.LoginFailures = int(st.up.Load()), int(st.failed.Load())
	if rep.SessionsUp < o.users {
		return nil, fmt.Errorf("only %d of %d users logged in: %s", rep.SessionsUp, o.users, st.fails)
	}
	for i, rate := range rates {
		if ctx.Err() != nil {
			break
		}
		rep.Steps = append(rep.Steps, r.runStep(ctx, sessions, i, rate))
	}
	rep.MaxSustainable, rep.Verdict = sustainable(rep.Steps, m.step)
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

func parseRates(s string) ([]float64, error) {
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v > maxRate {
			return nil, fmt.Errorf("--rates: %q is not a rate in (0, %d]", f, maxRate)
		}
		rates = append(rates, v)
	}
	if len(rates) > maxSteps {
		return nil, fmt.Errorf("--rates: at most %d steps", maxSteps)
	}
	return rates, nil
}

// sustainable returns the highest step rate with p99 ≤ 10 ms and nothing
// lost, and a verdict that says whether the steps were long enough to
// call it sustainable.
func sustainable(steps []stepReport, step time.Duration) (float64, string) {
	best := 0.0
	for _, s := range steps {
		if s.Latency.P99 <= sustainableP99 && s.Lost == 0 && s.SendErrors == 0 && s.Delivered > 0 {
			best = max(best, s.Rate)
		}
	}
	if step < sustainableSecs*time.Second {
		return best, fmt.Sprintf("steps of %s are shorter than the %ds the definition needs: indicative only", step, sustainableSecs)
	}
	return best, fmt.Sprintf("highest step with p99 ≤ %.0f ms and nothing lost over %s", sustainableP99, step)
}

// runStep sends at rate for the step's duration, waits for the drain and
// reports.
func (r *msgRun) runStep(ctx context.Context, sessions []*session, i int, rate float64) stepReport {
	o, m, st := r.o, r.m, r.steps[i]
	n := len(sessions)
	interval := time.Duration(float64(n) / rate * float64(time.Second)) // per sender
	cpu0 := sampleCPU(o.serverPID)
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(m.step)
	var wg sync.WaitGroup
	for k, s := range sessions {
		offset := time.Duration(float64(k) / rate * float64(time.Second))
		wg.Go(func() { r.send(ctx, s.c, st, i, k, start.Add(offset), interval, end) })
	}
	tick, stopTick := o.ticker()
	defer stopTick()
	sendDone := make(chan struct{})
	go func() { wg.Wait(); close(sendDone) }()
	var drainEnd, poll <-chan time.Time
	for loop := true; loop; {
		select {
		case <-sendDone:
			sendDone = nil
			drainEnd = time.After(m.drain)
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			poll = t.C
		case <-poll:
		case <-drainEnd:
			loop = false
		case <-ctx.Done():
			if sendDone == nil {
				loop = false
			}
		case <-tick:
			o.progressf("msgs: step %d (%.0f/s): sent %d, delivered %d, p99 %.2f ms (%.0fs)",
				i+1, rate, st.sent.Load(), st.delivered.Load(), st.lat.quantile(0.99), time.Since(start).Seconds())
		}
		if sendDone == nil && st.delivered.Load()+st.bounced.Load() >= st.sent.Load() {
			loop = false // everything accounted for
		}
	}
	cpu1 := sampleCPU(o.serverPID)
	secs := m.step.Seconds()
	rep := stepReport{
		Rate:       rate,
		Seconds:    secs,
		Sent:       st.sent.Load(),
		SendErrors: st.sendErrs.Load(),
		Delivered:  st.delivered.Load(),
		Latency:    st.lat.summary(true),
		Duplicated: st.dups.Load(),
		OutOfOrder: st.ooo.Load(),
		Bounced:    st.bounced.Load(),
		Cores:      coresBetween(cpu0, cpu1),
	}
	rep.DeliveredRate = float64(rep.Delivered) / secs
	rep.Lost = rep.Sent - rep.Delivered
	if cpu0.server >= 0 && cpu1.server >= 0 && rep.Delivered > 0 {
		rep.ServerCPUPerK = (cpu1.server - cpu0.server).Seconds() / float64(rep.Delivered) * 1000
	}
	return rep
}

// send is one sender's open loop: message q is due at first+q*interval;
// a late sender sends at once but keeps the due time as the message's
// intended time.
func (r *msgRun) send(ctx context.Context, c *client, st *stepStats, step, k int, first time.Time, interval time.Duration, end time.Time) {
	var body, buf, id []byte
	for q := 0; ; q++ {
		due := first.Add(time.Duration(q) * interval)
		if !due.Before(end) || ctx.Err() != nil {
			return
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		to := r.jids[(k+1+q%r.contacts)%len(r.jids)]
		seq := r.next[k]
		r.next[k]++
		body = appendStamp(body[:0], stamp{run: r.run, step: step, sender: k, seq: seq, due: int64(due.Sub(r.t0))})
		for len(body) < r.bodyLen {
			body = append(body, 'x')
		}
		id = strconv.AppendInt(append(id[:0], "m-"...), seq, 36)
		buf = r.tmpl(buf[:0], to, id, body)
		if err := c.write(buf); err != nil {
			st.sendErrs.Add(1)
			return
		}
		st.sent.Add(1)
	}
}

// receiver returns the handler of user k's incoming elements. It runs on
// that session's reader goroutine only.
func (r *msgRun) receiver(k int) func([]byte) {
	n := len(r.seen)
	last := make([]int64, r.contacts+1) // by sender distance (k - sender) mod n
	for i := range last {
		last[i] = -1
	}
	return func(el []byte) {
		if string(name(el)) != "message" {
			return
		}
		now := time.Since(r.t0)
		sp, ok := parseStamp(text(child(el, "body")))
		if !ok || sp.run != r.run || sp.step >= len(r.steps) || sp.sender >= n {
			return // not ours, or from an earlier run
		}
		st, sender, seq := r.steps[sp.step], sp.sender, sp.seq
		if string(attr(el, "type")) == "error" {
			st.bounced.Add(1)
			return
		}
		if !r.seen[sender].mark(seq) {
			st.dups.Add(1)
			return
		}
		st.delivered.Add(1)
		st.lat.record(now - time.Duration(sp.due))
		if d := (k - sender + n) % n; d >= 1 && d <= r.contacts {
			if seq < last[d] {
				st.ooo.Add(1)
			} else {
				last[d] = seq
			}
		}
	}
}

// stamp is what a message body carries: the run it belongs to (so that a
// message from an earlier run, replayed from an offline store, is not
// counted), the step, the sender, the sender's sequence number and the due
// time in nanoseconds since the run's start.
type stamp struct {
	run, seq, due int64
	step, sender  int
}

// appendStamp writes "run.step.sender.seq.due " to b.
func appendStamp(b []byte, s stamp) []byte {
	for i, v := range [5]int64{s.run, int64(s.step), int64(s.sender), s.seq, s.due} {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ' ')
}

// parseStamp reads a stamp from the start of a body.
func parseStamp(b []byte) (stamp, bool) {
	var f [5]int64
	i := 0
	for j := range f {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 18 {
			f[j] = f[j]*10 + int64(b[i]-'0')
			i++
		}
		if i == start || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
			return stamp{}, false // empty, or too long for an int64
		}
		if j < len(f)-1 {
			if i >= len(b) || b[i] != '.' {
				return stamp{}, false
			}
			i++
		}
	}
	if f[1] > maxSteps || f[2] > maxUsers {
		return stamp{}, false
	}
	return stamp{run: f[0], step: int(f[1]), sender: int(f[2]), seq: f[3], due: f[4]}, true
}

// minimalStanza is a bare chat message (~140 B with its body).
func minimalStanza(b []byte, to string, id, body []byte) []byte {
	b = append(b, "<message to='"...)
	b = append(b, to...)
	b = append(b, "' id='"...)
	b = append(b, id...)
	b = append(b, "' type='chat'><body>"...)
	b = append(b, body...)
	return append(b, "</body></message>"...)
}

// modernStanza is a message as Conversations or Gajim send it (~530 B):
// receipt request, markable, origin-id, chat state, store hint and thread.
func modernStanza(b []byte, to string, id, body []byte) []byte {
	b = append(b, "<message xmlns='jabber:client' to='"...)
	b = append(b, to...)
	b = append(b, "' id='"...)
	b = append(b, id...)
	b = append(b, "' type='chat'><body>"...)
	b = append(b, body...)
	b = append(b, "</body><request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>"+
		"<origin-id xmlns='urn:xmpp:sid:0' id='"...)
	b = append(b, id...)
	b = append(b, "'/><active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/>"+
		"<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>"...)
	return b
}
