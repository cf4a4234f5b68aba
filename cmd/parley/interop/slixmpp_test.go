package interop

import (
	"fmt"
	"net"
	"os/exec"
	"testing"
)

const python = "/usr/bin/python3"

// slixmppMissing reports whether Debian's slixmpp is unusable: it is
// installed for Debian's interpreter, not for any other python3 on PATH.
func slixmppMissing() error {
	if out, err := exec.Command(python, "-c", "import slixmpp").CombinedOutput(); err != nil {
		return fmt.Errorf("%s cannot import slixmpp (Debian package python3-slixmpp): %v: %s", python, err, out)
	}
	return nil
}

// TestSlixmpp runs every slixmpp scenario against one server, each with
// its own fresh accounts so a failure names one feature group.
func TestSlixmpp(t *testing.T) {
	requireInterop(t)
	requireDep(t, slixmppMissing())
	s := startServer(t)
	tests := []struct {
		scenario string
		// register: the second account must not exist; the scenario
		// creates it in band (XEP-0077).
		register bool
	}{
		{scenario: "sasl"},
		{scenario: "roster"},
		{scenario: "presence"},
		{scenario: "messages"},
		{scenario: "offline"},
		{scenario: "disco"},
		{scenario: "vcard"},
		{scenario: "private"},
		{scenario: "blocking"},
		{scenario: "pep"},
		{scenario: "ping"},
		{scenario: "register", register: true},
		{scenario: "directtls"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var a, b account
			if tc.register {
				a = account{tc.scenario + ".a", asciiPassword}
				s.addUser(t, a.local, a.password)
				b = account{tc.scenario + ".new", "first password"}
			} else {
				a, b = s.newAccounts(t, tc.scenario)
			}
			s.slixmpp(tc.scenario, a, b).run(t)
		})
	}
}

func (s *server) slixmpp(scenario string, accounts ...account) clientRun {
	args := []string{"slixmpp_client.py", scenario,
		"--host", "127.0.0.1", "--port", port(s.xmppAddr), "--tls-port", port(s.xmppsAddr),
		"--domain", domain, "--cafile", s.certFile,
		"--timeout", stepTimeout, "--total-timeout", "150", "--verbose"}
	for _, a := range accounts {
		args = append(args, "--account", a.arg())
	}
	return clientRun{
		name: "slixmpp " + scenario,
		path: python,
		args: args,
		dir:  "clients",
		env:  []string{"PYTHONUTF8=1", "PYTHONIOENCODING=utf-8"},
	}
}

// port returns the port of a host:port the harness built.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
