// Command parley-bench is a load generator for XMPP servers, Parley or
// not. It speaks plain XMPP over TCP — STARTTLS, SASL SCRAM-SHA-256,
// SCRAM-SHA-1 or PLAIN, resource binding, roster and presence — with a
// byte scanner instead of an XML decoder, so that it costs less per session
// and per stanza than the servers it measures.
//
//	parley-bench provision [flags]   create users 1..N (in-band registration) with rosters
//	parley-bench conns [flags]       hold N sessions, report login latency and memory per session
//	parley-bench msgs [flags]        1:1 chat at stepped open-loop rates, report latency and loss
//
// It targets only 127.0.0.0/8 and spreads its source addresses over that
// range. Every loop is bounded in count and time. A progress line goes to
// stderr while it runs, a human summary to stderr at the end, and the JSON
// report to stdout (or --json FILE).
package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `parley-bench — XMPP load tool (targets 127.0.0.0/8 only).

Usage:
  parley-bench provision --users N [common flags] [--contacts 20]
  parley-bench conns --users N [--ramp 200] [--hold 10s] [common flags]
  parley-bench msgs --users U [--rates 200,500] [--step 10s] [--size minimal|modern] [common flags]

Run "parley-bench COMMAND -h" for every flag.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	var (
		rep interface{ human(io.Writer) }
		err error
	)
	o := &options{stderr: stderr}
	fs := flag.NewFlagSet("parley-bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	switch args[0] {
	case "provision":
		p := provisionFlags(fs)
		if err := o.parse(fs, args[1:]); err != nil {
			return err
		}
		rep, err = runProvision(ctx, o, p)
	case "conns":
		c := connsFlags(fs)
		if err := o.parse(fs, args[1:]); err != nil {
			return err
		}
		rep, err = runConns(ctx, o, c)
	case "msgs":
		m := msgsFlags(fs)
		if err := o.parse(fs, args[1:]); err != nil {
			return err
		}
		rep, err = runMsgs(ctx, o, m)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		return err
	}
	if o.stopProfile != nil {
		o.stopProfile()
	}
	rep.human(stderr)
	return o.writeJSON(stdout, rep)
}

// options are the flags every command shares.
type options struct {
	server     string
	domain     string
	password   string
	prefix     string
	first      int
	users      int
	mech       string
	insecure   bool
	src        string
	timeout    time.Duration
	parallel   int
	serverPID  int
	metricsURL string
	jsonPath   string
	progress   time.Duration
	cpuProfile string

	stderr      io.Writer
	cc          *clientConfig
	stopProfile func()
}

// Bounds that keep every run finite and on this machine.
const (
	maxUsers    = 1_000_000
	maxDuration = time.Hour
)

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.server, "server", "127.0.0.1:5222", "server `address` (host:port, in 127.0.0.0/8), STARTTLS port")
	fs.StringVar(&o.domain, "domain", "localhost", "XMPP domain of the users")
	fs.StringVar(&o.password, "password", "bench-password", "every user's password")
	fs.StringVar(&o.prefix, "prefix", "u", "user name prefix: users are PREFIX1..PREFIXN")
	fs.IntVar(&o.first, "first", 1, "number of the first user")
	fs.IntVar(&o.users, "users", 100, "number of users (sessions)")
	fs.StringVar(&o.mech, "mech", "SCRAM-SHA-256", "SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN")
	fs.BoolVar(&o.insecure, "insecure", false, "accept any server certificate (self-signed test servers)")
	fs.StringVar(&o.src, "src", "127.0.0.0/8", "source addresses to spread sessions over (`CIDR` inside 127.0.0.0/8)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on one login")
	fs.IntVar(&o.parallel, "parallel", 64, "logins (or registrations) in flight at once")
	fs.IntVar(&o.serverPID, "server-pid", 0, "server process `pid`, for its CPU and RSS from /proc")
	fs.StringVar(&o.metricsURL, "metrics", "", "server's Prometheus `url` on loopback, e.g. http://127.0.0.1:5380/metrics")
	fs.StringVar(&o.jsonPath, "json", "-", "where to write the JSON report (`file`, - for stdout)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to `file` (to keep it lighter than the server)")
	fs.DurationVar(&o.progress, "progress", time.Second, "interval of the progress line on stderr (0: none)")
}

func (o *options) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.users < 1 || o.users > maxUsers {
		return fmt.Errorf("--users must be in 1..%d", maxUsers)
	}
	if o.first < 0 || o.parallel < 1 || o.timeout <= 0 || o.timeout > maxDuration {
		return errors.New("--first, --parallel and --timeout must be positive (timeout at most 1h)")
	}
	addr, err := net.ResolveTCPAddr("tcp4", o.server)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	if !isLoopback4(addr.IP) {
		return fmt.Errorf("--server %s is outside 127.0.0.0/8: this tool loads only local servers", addr.IP)
	}
	if o.metricsURL != "" {
		u, err := url.Parse(o.metricsURL)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		if h := u.Hostname(); h != "localhost" && !isLoopback4(net.ParseIP(h)) {
			return fmt.Errorf("--metrics %s is not on 127.0.0.0/8", o.metricsURL)
		}
	}
	src, err := newSrcPool(o.src)
	if err != nil {
		return err
	}
	switch o.mech {
	case "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN":
	default:
		return fmt.Errorf("--mech %q: want SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN", o.mech)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		o.stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	o.cc = &clientConfig{
		server:   addr,
		domain:   o.domain,
		password: o.password,
		mech:     o.mech,
		// #nosec G402: verification is skipped only on request, for local test servers.
		tls:     &tls.Config{ServerName: o.domain, InsecureSkipVerify: o.insecure, MinVersion: tls.VersionTLS12},
		timeout: o.timeout,
		src:     src,
		keys:    &keyCache{},
	}
	return nil
}

// user returns the local part of user number k (0-based within the run).
func (o *options) user(k int) string { return o.prefix + strconv.Itoa(o.first+k) }

func (o *options) writeJSON(stdout io.Writer, rep any) error {
	w := stdout
	if o.jsonPath != "-" {
		f, err := os.Create(o.jsonPath)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// progressf prints one progress line.
func (o *options) progressf(format string, args ...any) {
	fmt.Fprintf(o.stderr, format+"\n", args...)
}

// ticker returns a channel that ticks at the progress interval, or never.
func (o *options) ticker() (<-chan time.Time, func()) {
	if o.progress <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(o.progress)
	return t.C, t.Stop
}

func isLoopback4(ip net.IP) bool {
	v4 := ip.To4()
	return v4 != nil && v4[0] == 127
}

// srcPool hands out source addresses from a block inside 127.0.0.0/8, so
// that per-address limits of the server (authentication and registration
// rate limits) and the 64k ephemeral ports per address do not cap a run.
type srcPool struct {
	base uint32 // first usable address
	size uint32
}

func newSrcPool(cidr string) (*srcPool, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("--src: %w", err)
	}
	ones, bits := n.Mask.Size()
	if bits != 32 || !isLoopback4(n.IP) || ones < 8 {
		return nil, fmt.Errorf("--src %s is not inside 127.0.0.0/8", cidr)
	}
	base := binary.BigEndian.Uint32(n.IP.To4())
	size := uint32(1) << (32 - ones)
	if size > 2 { // leave out the network and broadcast addresses
		return &srcPool{base: base + 1, size: size - 2}, nil
	}
	return &srcPool{base: base, size: size}, nil
}

// addr returns the source address for session i.
func (p *srcPool) addr(i int) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, p.base+uint32(i)%p.size)
	return ip
}

// phaseFailures counts failures per phase, with one sample message each.
type phaseFailures struct {
	Count  map[string]int    `json:"count"`
	Sample map[string]string `json:"sample,omitempty"`
}

func newPhaseFailures() *phaseFailures {
	return &phaseFailures{Count: map[string]int{}, Sample: map[string]string{}}
}

// add records err; the caller serialises calls.
func (f *phaseFailures) add(err error) {
	ph := "other"
	var pe *phaseError
	if errors.As(err, &pe) {
		ph = pe.phase.String()
	}
	f.Count[ph]++
	if _, ok := f.Sample[ph]; !ok {
		f.Sample[ph] = err.Error()
	}
}

func (f *phaseFailures) total() int {
	n := 0
	for _, c := range f.Count {
		n += c
	}
	return n
}

func (f *phaseFailures) String() string {
	if f.total() == 0 {
		return "none"
	}
	var parts []string
	for p := range numPhases + 1 {
		k := "other"
		if p < numPhases {
			k = phaseNames[p]
		}
		if c := f.Count[k]; c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (e.g. %s)", k, c, trim(f.Sample[k], 120)))
		}
	}
	return strings.Join(parts, "; ")
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// escape makes s safe inside XML character data and quoted attributes.
func escape(s string) string {
	if !strings.ContainsAny(s, `&<>'"`) {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}
