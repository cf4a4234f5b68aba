package server

import (
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the server's Prometheus metrics, served on the admin
// endpoint's /metrics and summarised by `parley status`.
type metrics struct {
	reg *prometheus.Registry

	sessions      prometheus.Gauge
	logins        prometheus.Counter
	authFailures  *prometheus.CounterVec
	tlsHandshakes *prometheus.CounterVec
	stanzasIn     *prometheus.CounterVec
	stanzasOut    *prometheus.CounterVec
	outboundBytes prometheus.Gauge
	slowConsumers prometheus.Counter
	refused       prometheus.Counter
	emfile        prometheus.Counter
	commitOps     prometheus.Histogram
	commitSeconds prometheus.Histogram
}

func newMetrics(srv *Server) *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		reg: reg,
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_sessions", Help: "Bound client sessions.",
		}),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_logins_total", Help: "Sessions bound since start.",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_auth_failures_total", Help: "Failed SASL attempts by condition.",
		}, []string{"condition"}),
		tlsHandshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_tls_handshakes_total", Help: "Completed TLS handshakes by version and key exchange.",
		}, []string{"kind"}),
		stanzasIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_stanzas_in_total", Help: "Stanzas read from clients, by kind.",
		}, []string{"kind"}),
		stanzasOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_stanzas_out_total", Help: "Stanzas queued to clients, by kind.",
		}, []string{"kind"}),
		outboundBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_outbound_queue_bytes", Help: "Bytes queued for clients and not yet written.",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_slow_consumer_kicks_total", Help: "Sessions closed because their output queue overflowed.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_connections_refused_total", Help: "Connections refused at the session cap.",
		}),
		emfile: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_accept_emfile_total", Help: "Accepts that failed for lack of file descriptors.",
		}),
		commitOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_store_commit_batch_ops", Help: "Operations per store commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_store_commit_seconds", Help: "Store commit latency (durable).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.logins, m.authFailures, m.tlsHandshakes,
		m.stanzasIn, m.stanzasOut, m.outboundBytes, m.slowConsumers, m.refused, m.emfile,
		m.commitOps, m.commitSeconds} {
		f(c)
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_connections", Help: "Open client connections, negotiating or bound.",
	}, func() float64 { return float64(srv.conns.count()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_max_sessions", Help: "The session cap (from the open-file limit unless configured).",
	}, func() float64 { return float64(srv.conns.cap) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_open_files", Help: "File descriptors open in this process.",
	}, func() float64 { return float64(openFiles()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_open_files_limit", Help: "The process's open-file limit.",
	}, func() float64 { return float64(srv.fdLimit) }))
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeCommit is the storage OnCommit hook.
func (m *metrics) observeCommit(ops int, d time.Duration) {
	m.commitOps.Observe(float64(ops))
	m.commitSeconds.Observe(d.Seconds())
}

// openFiles counts this process's open file descriptors (Linux).
func openFiles() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

func counterValues(v *prometheus.CounterVec) map[string]float64 {
	out := map[string]float64{}
	ch := make(chan prometheus.Metric, 16)
	go func() { v.Collect(ch); close(ch) }()
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		label := ""
		for _, l := range d.Label {
			label = l.GetValue()
		}
		out[label] = d.Counter.GetValue()
	}
	return out
}

func gaugeValue(g prometheus.Gauge) float64 {
	var d dto.Metric
	if g.Write(&d) != nil || d.Gauge == nil {
		return 0
	}
	return d.Gauge.GetValue()
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return d.Counter.GetValue()
}

// Version is the module version or VCS revision the binary was built from.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}
