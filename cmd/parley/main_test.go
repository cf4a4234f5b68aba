package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.yaml")
	body = strings.ReplaceAll(body, "DATA", filepath.Join(dir, "data"))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheck(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr string // "" for success
	}{
		{
			name:    "valid",
			body:    "data_dir: DATA\nhosts:\n  - domain: example.org\n",
			wantErr: "",
		},
		{
			name:    "unknown top-level key",
			body:    "data_dir: DATA\nhostz: []\n",
			wantErr: `parley.yaml:2: hostz: unknown key`,
		},
		{
			name:    "unknown key in a module block",
			body:    "data_dir: DATA\nmodules:\n  version:\n    hide_os: true\n    colour: blue\n",
			wantErr: `parley.yaml:5: modules.version.colour: unknown key`,
		},
		{
			name:    "bad value in a module block",
			body:    "data_dir: DATA\nmodules:\n  offline:\n    max_per_user: lots\n",
			wantErr: `parley.yaml:4: modules.offline.max_per_user`,
		},
		{
			name:    "unknown module",
			body:    "data_dir: DATA\nmodules:\n  teleport: {}\n",
			wantErr: `parley.yaml:3: modules.teleport`,
		},
		{
			name:    "key in a module without options",
			body:    "data_dir: DATA\nmodules:\n  ping:\n    interval: 5s\n",
			wantErr: `parley.yaml:4: modules.ping.interval: unknown key`,
		},
		{
			name:    "unknown storage backend",
			body:    "data_dir: DATA\nstorage:\n  backend: floppy\n",
			wantErr: `parley.yaml:3: storage.backend: unknown backend "floppy"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			var out, errOut bytes.Buffer
			err := run([]string{"config", "check", "--config", path}, strings.NewReader(""), &out, &errOut)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("config check failed: %v", err)
				}
				if !strings.Contains(out.String(), ": ok") {
					t.Fatalf("output %q does not say ok", out.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("config check passed, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestUserCommandsWithoutServer checks that add, passwd and list work on the
// store when no server answers, and that del refuses clearly.
func TestUserCommandsWithoutServer(t *testing.T) {
	path := writeConfig(t, fmt.Sprintf("data_dir: DATA\nadmin:\n  address: 127.0.0.1:%d\n", freePort(t)))
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(append(args, "--config", path), strings.NewReader("typed-password\n"), &out, &errOut)
		return out.String(), err
	}
	if out, err := cli("user", "add", "alice@localhost", "--password", "pw1"); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("user add: %q %v", out, err)
	}
	if out, err := cli("user", "add", "bob@localhost"); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("user add with the password on stdin: %q %v", out, err)
	}
	if _, err := cli("user", "add", "alice@localhost", "--password", "again"); err == nil {
		t.Fatal("adding an existing user succeeded")
	}
	if out, err := cli("user", "passwd", "alice@localhost", "--password", "pw2"); err != nil || !strings.Contains(out, "changed") {
		t.Fatalf("user passwd: %q %v", out, err)
	}
	out, err := cli("user", "list")
	if err != nil || out != "alice@localhost\nbob@localhost\n" {
		t.Fatalf("user list: %q %v", out, err)
	}
	if _, err := cli("user", "del", "alice@localhost"); err == nil || !strings.Contains(err.Error(), "needs the server running") {
		t.Fatalf("user del without a server: %v", err)
	}
	if _, err := cli("user", "add", "carol@elsewhere.example", "--password", "x"); err == nil || !strings.Contains(err.Error(), "not a domain of this server") {
		t.Fatalf("user add on a foreign domain: %v", err)
	}
	if _, err := cli("status"); err == nil || !strings.Contains(err.Error(), "no server answers") {
		t.Fatalf("status without a server: %v", err)
	}
}
