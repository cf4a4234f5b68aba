package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/conf"
	_ "github.com/parley-im/parley/modules/all"
	_ "github.com/parley-im/parley/storage/embedded"
	"github.com/parley-im/parley/xmpp"
	"github.com/parley-im/parley/xmpp/xmlscan"
)

// countingConn is a net.Conn whose reads come from r and whose writes are
// counted, to show how many writes (flushes) a burst of stanzas costs.
type countingConn struct {
	r        io.Reader
	writes   atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex
	cond     *sync.Cond
	timedOut bool
}

func newCountingConn(r io.Reader) *countingConn {
	c := &countingConn{r: r}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *countingConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	c.bytes.Add(int64(len(p)))
	c.mu.Lock()
	c.cond.Broadcast()
	c.mu.Unlock()
	return len(p), nil
}

// waitBytes waits until n bytes were written, or reports false after a
// minute (a lost delivery must fail the benchmark, not hang it).
func (c *countingConn) waitBytes(n int64) bool {
	stop := time.AfterFunc(time.Minute, func() {
		c.mu.Lock()
		c.timedOut = true
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.bytes.Load() < n && !c.timedOut {
		c.cond.Wait()
	}
	return c.bytes.Load() >= n
}
func (c *countingConn) Close() error                     { return nil }
func (c *countingConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *countingConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *countingConn) SetDeadline(time.Time) error      { return nil }
func (c *countingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

func benchServer(b *testing.B) *Server {
	b.Helper()
	cfg := conf.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listeners = []conf.Listener{{Type: "xmpp", Address: "127.0.0.1:0"}} // never opened
	cfg.Admin.Address = "off"
	cfg.Limits.Stanzas = conf.Rate{} // unlimited: measure the path, not the limiter
	// The benchmark loop can outrun the recipient's writer goroutine on
	// two cores; a real client would be cut off as a slow consumer at the
	// default 1 MiB, which is not what this measures.
	cfg.Limits.OutboundQueueBytes = 1 << 30
	if err := cfg.Check(); err != nil {
		b.Fatal(err)
	}
	srv, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.shutdown)
	return srv
}

// bindFake binds a session for full on conn, as negotiation would.
func bindFake(srv *Server, full string, conn net.Conn) *session {
	s := &session{
		srv: srv, conn: conn, nsOut: xmpp.NSClient, done: make(chan struct{}),
		log: srv.log, jid: xmpp.MustParseJID(full), bound: true,
	}
	s.presence = &xmpp.Stanza{Kind: xmpp.KindPresence, Name: "presence", Space: xmpp.NSClient}
	srv.router.bind(s, bindReplace)
	return s
}

const (
	minimalMsg = `<message to='bob@localhost/b' type='chat' id='a1b2c3'><body>Hello Bob, how are you doing today?</body></message>`
	modernMsg  = `<message to='bob@localhost/b' type='chat' id='5a8e4d2c-1f3b-4c6d-9e7a-0b1c2d3e4f50' xml:lang='en'>` +
		`<body>Hey! Are we still on for lunch tomorrow at the usual place? Let me know.</body>` +
		`<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='5a8e4d2c-1f3b-4c6d-9e7a-0b1c2d3e4f50'/>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/></message>`
)

// BenchmarkRoute measures the whole hot path for a 1:1 chat message
// between two bound sessions: scan, stamp, Inbound chain, route, Deliver
// chain, encode, queue, write. Reads deliver 64 stanzas at a time, as a
// busy client's TCP segments would; "writes/op" shows the batching.
func BenchmarkRoute(b *testing.B) {
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{name: "minimal", msg: minimalMsg},
		{name: "modern", msg: modernMsg},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := benchServer(b)
			bobConn := newCountingConn(strings.NewReader(""))
			bindFake(srv, "bob@localhost/b", bobConn)

			chunks := (b.N + 63) / 64
			total := chunks * 64
			in := &repeatReader{hdr: []byte(header), chunk: []byte(strings.Repeat(tc.msg, 64)), left: chunks}
			alice := bindFake(srv, "alice@localhost/a", newCountingConn(in))
			alice.scan = xmlscan.New(in, srv.scanLimits)
			if _, err := alice.scan.ReadHeader(); err != nil {
				b.Fatal(err)
			}

			// One delivered stanza's size, to know when all have arrived.
			var one xmpp.Stanza
			sc := xmlscan.New(strings.NewReader(header+tc.msg), srv.scanLimits)
			if _, err := sc.ReadHeader(); err != nil {
				b.Fatal(err)
			}
			if err := sc.Next(&one); err != nil {
				b.Fatal(err)
			}
			one.From = alice.jid
			size := int64(len(one.Append(nil, xmpp.NSClient)))

			b.SetBytes(int64(len(tc.msg)))
			b.ReportAllocs()
			b.ResetTimer()
			st := xmpp.GetStanza()
			ctx := context.Background()
			for i := 0; i < total; i++ {
				if err := alice.scan.Next(st); err != nil {
					b.Fatal(err)
				}
				alice.batch.begin()
				alice.handle(ctx, st)
				alice.afterStanza()
			}
			if !bobConn.waitBytes(int64(total) * size) {
				b.Fatalf("only %d of %d bytes reached the recipient", bobConn.bytes.Load(), int64(total)*size)
			}
			b.StopTimer()
			b.ReportMetric(float64(bobConn.writes.Load())/float64(b.N), "writes/op")
		})
	}
}

const header = `<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`

// repeatReader yields hdr once, then chunk left times.
type repeatReader struct {
	hdr   []byte
	chunk []byte
	left  int
	pos   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if len(r.hdr) > 0 {
		n := copy(p, r.hdr)
		r.hdr = r.hdr[n:]
		return n, nil
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunk[r.pos:])
	r.pos += n
	if r.pos == len(r.chunk) {
		r.pos = 0
		r.left--
	}
	return n, nil
}
