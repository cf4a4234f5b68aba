package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley/server/servertest"
)

// TestWebSocket logs in over RFC 7395 framing, exchanges a message with a
// TCP client both ways, and checks that every WebSocket message is one
// complete element.
func TestWebSocket(t *testing.T) {
	srv := servertest.Start(t, nil)
	srv.AddUser(t, "alice@localhost", pw)
	srv.AddUser(t, "bob@localhost", pw)
	bob := srv.Online(t, "bob@localhost", pw, "tcp")

	url := "ws://" + srv.Addr("websocket").String() + "/xmpp-websocket"
	ws, resp, err := (&websocket.Dialer{Subprotocols: []string{"xmpp"}}).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer ws.Close()
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "xmpp" {
		t.Fatalf("subprotocol %q, want xmpp", got)
	}
	send := func(s string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(re string) string {
		t.Helper()
		rx := regexp.MustCompile(re)
		for {
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %q: %v", re, err)
			}
			if !strings.HasPrefix(string(msg), "<") || !strings.HasSuffix(string(msg), ">") {
				t.Fatalf("a message is not one element: %q", msg)
			}
			if rx.Match(msg) {
				return string(msg)
			}
		}
	}
	open := `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>`
	send(open)
	expect(`^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"`)
	f := expect(`^<stream:features`)
	if !strings.Contains(f, "PLAIN") {
		t.Fatalf("PLAIN not offered on a loopback WebSocket: %s", f)
	}
	send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">` + b64("\x00alice\x00"+pw) + `</auth>`)
	expect(`^<success`)
	send(open)
	expect(`^<open `)
	expect(`<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>`)
	send(`<iq xmlns="jabber:client" type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>web</resource></bind></iq>`)
	expect(`<jid>alice@localhost/web</jid>`)
	send(`<presence xmlns="jabber:client"/>`)

	send(`<message xmlns="jabber:client" to="bob@localhost/tcp" type="chat" id="w1"><body>from the web</body></message>`)
	bob.Expect(`<message [^>]*from="alice@localhost/web"[^>]*>.*?<body>from the web</body>`)
	bob.Send(`<message to='alice@localhost/web' type='chat' id='t1'><body>from tcp &amp; back</body></message>`)
	got := expect(`<body>from tcp &amp; back</body>`)
	if !strings.Contains(got, `xmlns="jabber:client"`) {
		t.Fatalf("a stanza on a WebSocket must carry its namespace: %s", got)
	}
	send(`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`)
	expect(`^<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>$`)
}

// TestHostMeta checks XEP-0156 discovery of the WebSocket endpoint.
func TestHostMeta(t *testing.T) {
	srv := servertest.Start(t, nil)
	base := "http://" + srv.Addr("websocket").String()
	for _, tc := range []struct {
		name, path, want string
	}{
		{name: "xrd", path: "/.well-known/host-meta", want: `rel="urn:xmpp:alt-connections:websocket" href="ws://`},
		{name: "json", path: "/.well-known/host-meta.json", want: `"rel":"urn:xmpp:alt-connections:websocket"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), "/xmpp-websocket") {
				t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, body)
			}
		})
	}
}
