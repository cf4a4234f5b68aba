package interop

import (
	"fmt"
	"os/exec"
	"testing"
)

// sendxmppMissing reports whether Debian's go-sendxmpp is absent.
func sendxmppMissing() error {
	if _, err := exec.LookPath("go-sendxmpp"); err != nil {
		return fmt.Errorf("go-sendxmpp is not on PATH (Debian package go-sendxmpp): %v", err)
	}
	return nil
}

// TestGoSendxmpp sends one message with go-sendxmpp over STARTTLS and one
// over direct TLS (XEP-0368) to a mellium client that checks it arrives
// unchanged. go-sendxmpp verifies TLS against SSL_CERT_FILE, the server's
// generated certificate.
func TestGoSendxmpp(t *testing.T) {
	requireInterop(t)
	requireDep(t, sendxmppMissing())
	s := startServer(t)
	tests := []struct {
		name string
		args []string
	}{
		{name: "starttls", args: []string{"-j", s.xmppAddr}},
		{name: "directtls", args: []string{"-t", "-j", s.xmppsAddr}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sender, receiver := s.newAccounts(t, "sendxmpp-"+tc.name)
			rc := s.connectMellium(t, receiver)
			body := fmt.Sprintf("go-sendxmpp over %s: <&> \"quotes\" ✓ 😀", tc.name)
			args := append([]string{"-u", sender.jid(), "-p", sender.password, "--timeout", "10"}, tc.args...)
			clientRun{
				name:  "go-sendxmpp " + tc.name,
				path:  "go-sendxmpp",
				args:  append(args, receiver.jid()),
				stdin: body,
				env:   []string{"SSL_CERT_FILE=" + s.certFile, "HOME=" + t.TempDir()},
				plain: true,
			}.run(t)
			if t.Failed() {
				return
			}
			m := rc.nextMessage(t, sender.jid()+"/")
			if m.Body != body {
				t.Errorf("received body %q, want %q", m.Body, body)
			}
		})
	}
}
