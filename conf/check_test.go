package conf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeKeyPair writes a self-signed certificate for domain and its key as
// PEM files in dir, returning their paths.
func writeKeyPair(t *testing.T, dir, name, domain string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: domain},
		DNSNames:     []string{domain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func TestCheckTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a", "a.example")
	_, otherKey := writeKeyPair(t, dir, "b", "b.example")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name      string
		cert, key string
		want      []string
	}{
		{name: "a matching pair", cert: cert, key: key},
		{
			name: "missing files",
			cert: missing, key: missing,
			want: []string{
				`parley.yaml:5: hosts[0].tls.cert: cannot read ` + missing + `: no such file or directory`,
				`parley.yaml:6: hosts[0].tls.key: cannot read ` + missing + `: no such file or directory`,
			},
		},
		{
			name: "a directory",
			cert: dir, key: key,
			want: []string{`parley.yaml:5: hosts[0].tls.cert: ` + dir + ` is not a regular file`},
		},
		{
			name: "key of another certificate",
			cert: cert, key: otherKey,
			want: []string{`parley.yaml:4: hosts[0].tls: cert ` + cert + ` and key ` + otherKey + ` do not make a key pair: private key does not match public key`},
		},
		{
			name: "not PEM",
			cert: garbage, key: key,
			want: []string{`parley.yaml:4: hosts[0].tls: cert ` + garbage + ` and key ` + key + ` do not make a key pair: failed to find any PEM data in certificate input`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "hosts:\n  - domain: a.example\n    isolated: true\n    tls:\n      cert: " + tc.cert + "\n      key: " + tc.key + "\n"
			c, err := Parse("parley.yaml", []byte(src))
			got := errorLines(t, err)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if err == nil && (c.Hosts[0].TLS != TLS{Cert: tc.cert, Key: tc.key}) {
				t.Errorf("tls = %+v", c.Hosts[0].TLS)
			}
		})
	}
}

func TestCheckBuiltInCode(t *testing.T) {
	c := Default()
	c.Hosts = append(c.Hosts, Host{Domain: "Example.ORG"})
	c.Listeners = []Listener{
		{Type: "xmpp", Address: "127.0.0.1:0"},
		{Type: "websocket", Address: "127.0.0.1:0"},
	}
	if err := c.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got := c.Hosts[1]; got != (Host{Domain: "example.org", ResourceConflict: "replace"}) {
		t.Errorf("host not normalised: %+v", got)
	}
	if l := c.Listeners[0]; l.RequireTLS == nil || !*l.RequireTLS {
		t.Errorf("xmpp listener without require_tls: %+v", l)
	}
	if l := c.Listeners[1]; l.Path != "/xmpp-websocket" || l.RequireTLS != nil {
		t.Errorf("websocket listener defaults: %+v", l)
	}

	c.Listeners[1].Address = "nowhere"
	c.Limits.FDReserve = -1
	want := []string{
		`conf: listeners[1].address: "nowhere" is not host:port (missing port in address)`,
		`conf: limits.fd_reserve: must be above 0, got -1`,
	}
	if got := errorLines(t, c.Check()); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestListenAddrOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{a: "127.0.0.1:5222", b: "127.0.0.1:5222", want: true},
		{a: "127.0.0.1:5222", b: "127.0.0.1:5223", want: false},
		{a: "127.0.0.1:0", b: "127.0.0.1:0", want: false},
		{a: ":5222", b: "10.0.0.1:5222", want: true},
		{a: "[::]:5222", b: "[::1]:5222", want: true},
		{a: "0.0.0.0:5222", b: "10.0.0.1:5222", want: true},
		{a: "0.0.0.0:5222", b: "[::1]:5222", want: false},
		{a: "0.0.0.0:5222", b: "example.org:5222", want: true},
		{a: "[::1]:5222", b: "[0:0::1]:5222", want: true},
		{a: "Example.org:5222", b: "example.ORG:5222", want: true},
		{a: "a.example:5222", b: "b.example:5222", want: false},
		{a: "127.0.0.1:5222", b: "127.0.0.2:5222", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			a, err := parseAddr(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseAddr(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.overlaps(b); got != tc.want {
				t.Errorf("overlaps = %v, want %v", got, tc.want)
			}
			if got := b.overlaps(a); got != tc.want {
				t.Errorf("reversed overlaps = %v, want %v", got, tc.want)
			}
		})
	}
}
