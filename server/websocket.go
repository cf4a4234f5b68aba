package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/xmpp"
)

// wsConn adapts a WebSocket connection (RFC 7395) to the session: reads are
// the concatenated text messages (each one complete XML element, which the
// scanner reads in framed mode), and writes go out one element per message.
type wsConn struct {
	*websocket.Conn
	r io.Reader // the current message
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.TextMessage {
				return 0, xmpp.NewStreamError(xmpp.StreamBadFormat, "binary WebSocket messages are not allowed")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	return len(p), c.WriteMessage(websocket.TextMessage, p)
}

// writeFrames writes buf as one message per element; frames holds the end
// offset of each element.
func (c *wsConn) writeFrames(buf []byte, frames []int) error {
	start := 0
	for _, end := range frames {
		if err := c.WriteMessage(websocket.TextMessage, buf[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *wsConn) Close() error { return c.Conn.Close() }

var _ net.Conn = (*wsConn)(nil)

// webSocketHandler serves RFC 7395 upgrades on lc.Path and XEP-0156
// host-meta documents.
func (srv *Server) webSocketHandler(lc conf.Listener, trusted []netip.Prefix) http.Handler {
	up := websocket.Upgrader{
		Subprotocols:    []string{"xmpp"},
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		// Browsers send Origin; RFC 7395 leaves origin policy to the
		// server. Parley serves any origin, as an XMPP port does.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc(lc.Path, func(w http.ResponseWriter, r *http.Request) {
		if !containsToken(websocket.Subprotocols(r), "xmpp") {
			http.Error(w, "the xmpp WebSocket subprotocol is required (RFC 7395)", http.StatusBadRequest)
			return
		}
		if !srv.conns.acquire() {
			srv.metrics.refused.Inc()
			http.Error(w, "server full", http.StatusServiceUnavailable)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			srv.conns.release()
			return // Upgrade has answered
		}
		c.SetReadLimit(int64(srv.limits.MaxStanzaBytes) + 4096)
		remote := addrOf(c.RemoteAddr())
		secure := lc.TLS || remote.IsLoopback() || inPrefixes(remote, trusted)
		wc := &wsConn{Conn: c}
		srv.serveStream(wc, remote, wc, secure, true) // negotiates on this handler goroutine
	})
	mux.HandleFunc("/.well-known/host-meta", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xrd+xml")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		fmt.Fprintf(w, `<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Link rel="urn:xmpp:alt-connections:websocket" href="%s"/>
</XRD>
`, wsURL(lc, r))
	})
	mux.HandleFunc("/.well-known/host-meta.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"links": []map[string]string{{"rel": "urn:xmpp:alt-connections:websocket", "href": wsURL(lc, r)}},
		})
	})
	return mux
}

func wsURL(lc conf.Listener, r *http.Request) string {
	scheme := "ws"
	if lc.TLS {
		scheme = "wss"
	}
	return scheme + "://" + r.Host + lc.Path
}

func containsToken(list []string, tok string) bool {
	for _, s := range list {
		if strings.EqualFold(strings.TrimSpace(s), tok) {
			return true
		}
	}
	return false
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// serveHTTP runs an http.Server on l until ctx ends.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	err := hs.Serve(l)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}
