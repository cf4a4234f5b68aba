package interop

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// xmppjsMissing reports whether node or the npm-installed @xmpp/client is
// absent.
func xmppjsMissing() error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("clients", "node_modules", "@xmpp", "client", "package.json")); err != nil {
		return fmt.Errorf("@xmpp/client is not installed in cmd/parley/interop/clients (npm ci there): %v", err)
	}
	return nil
}

// nodeArgs returns the flags node needs for a global WebSocket: Node 20
// hides it behind --experimental-websocket, Node 22 has it built in.
func nodeArgs() []string {
	probe := exec.Command("node", "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)")
	if probe.Run() == nil {
		return nil
	}
	return []string{"--experimental-websocket"}
}

// TestXMPPJS runs the xmpp.js scenario over each transport: TCP with
// STARTTLS, direct TLS and WebSocket. TLS is verified against the server's
// generated certificate (NODE_EXTRA_CA_CERTS); direct TLS dials "localhost"
// because xmpp.js checks the certificate against the host it dials.
func TestXMPPJS(t *testing.T) {
	requireInterop(t)
	requireDep(t, xmppjsMissing())
	s := startServer(t)
	flags := nodeArgs()
	tests := []struct {
		name    string
		service string
	}{
		{name: "starttls", service: "xmpp://" + s.xmppAddr},
		{name: "directtls", service: "xmpps://" + domain + ":" + port(s.xmppsAddr)},
		{name: "websocket", service: s.wsURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := s.newAccounts(t, "js-"+tc.name)
			args := append(append([]string{}, flags...), "xmppjs_client.mjs",
				"--service", tc.service, "--domain", domain,
				"--account", a.arg(), "--account", b.arg(),
				"--timeout", stepTimeout, "--total-timeout", "150", "--verbose")
			clientRun{
				name: "xmpp.js " + tc.name,
				path: "node",
				args: args,
				dir:  "clients",
				env:  []string{"NODE_EXTRA_CA_CERTS=" + s.certFile},
			}.run(t)
		})
	}
}
