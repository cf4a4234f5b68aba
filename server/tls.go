package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/conf"
)

// ALPN protocol for direct TLS client connections (XEP-0368).
const alpnClient = "xmpp-client"

// certStore picks the certificate for a connection by SNI (or by the stream
// header's 'to' after STARTTLS), falling back to the first domain's.
type certStore struct {
	byDomain map[string]*tls.Certificate
	fallback *tls.Certificate
}

// loadCerts loads every configured certificate and, for domains without
// one, a self-signed ECDSA P-256 certificate kept in dataDir/tls. It is
// regenerated when it is missing, expired, or does not cover a domain.
func loadCerts(cfg *conf.Config, log *slog.Logger) (*certStore, error) {
	cs := &certStore{byDomain: map[string]*tls.Certificate{}}
	var selfSigned []string
	for _, h := range cfg.Hosts {
		if h.TLS.Cert == "" {
			selfSigned = append(selfSigned, h.Domain)
			continue
		}
		c, err := tls.LoadX509KeyPair(h.TLS.Cert, h.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("server: tls for %s: %w", h.Domain, err)
		}
		cs.byDomain[h.Domain] = &c
	}
	if len(selfSigned) > 0 {
		c, err := selfSignedCert(filepath.Join(cfg.DataDir, "tls"), selfSigned, log)
		if err != nil {
			return nil, err
		}
		for _, d := range selfSigned {
			cs.byDomain[d] = c
		}
	}
	cs.fallback = cs.byDomain[cfg.Hosts[0].Domain]
	return cs, nil
}

// forDomain returns the certificate for domain, or the fallback.
func (cs *certStore) forDomain(domain string) *tls.Certificate {
	if c := cs.byDomain[strings.ToLower(domain)]; c != nil {
		return c
	}
	return cs.fallback
}

// config returns a server tls.Config. domain, if not empty, is the domain
// the client named in its stream header, used when the client sends no SNI.
func (cs *certStore) config(domain string, alpn []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: alpn,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != "" {
				return cs.forDomain(hello.ServerName), nil
			}
			return cs.forDomain(domain), nil
		},
	}
}

// CertFile is where the generated self-signed certificate is written,
// relative to the data directory. README tells users how to trust it.
const CertFile = "tls/cert.pem"

func selfSignedCert(dir string, domains []string, log *slog.Logger) (*tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil &&
			time.Now().Add(24*time.Hour).Before(leaf.NotAfter) && coversAll(leaf, domains) {
			c.Leaf = leaf
			return &c, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("server: generate tls key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("server: generate tls serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: domains[0], Organization: []string{"Parley self-signed"}},
		DNSNames:              domains,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so the file can be trusted directly as a root
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("server: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("server: marshal tls key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("server: tls dir: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server: load generated certificate: %w", err)
	}
	c.Leaf, _ = x509.ParseCertificate(der)
	log.Info("generated a self-signed TLS certificate; clients must trust it or skip verification",
		"file", certPath, "domains", domains, "expires", tmpl.NotAfter.Format(time.DateOnly))
	return &c, nil
}

func coversAll(leaf *x509.Certificate, domains []string) bool {
	for _, d := range domains {
		if !slices.Contains(leaf.DNSNames, d) {
			return false
		}
	}
	return true
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("server: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("server: write %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}
