package main

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"strings"
	"testing"
)

// TestAuthExchanges runs the client's SASL against a scripted server for
// the ways a server may end a SCRAM exchange.
func TestAuthExchanges(t *testing.T) {
	tests := []struct {
		name     string
		finalAs  string // how the server sends server-final: "success" or "challenge"
		password string // the server's idea of the password
		wantErr  string
	}{
		{name: "final in success", finalAs: "success", password: "pw"},
		{name: "final as challenge, empty success", finalAs: "challenge", password: "pw"},
		{name: "wrong server key", finalAs: "success", password: "other", wantErr: "wrong server signature"},
		{name: "failure", finalAs: "failure", password: "pw", wantErr: "sasl failure"},
	}
	features := []byte(`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, srv := net.Pipe()
			defer cli.Close()
			defer srv.Close()
			go scriptedScram(srv, tt.password, tt.finalAs)
			c := &client{cfg: &clientConfig{mech: "SCRAM-SHA-256", password: "pw", keys: &keyCache{}}, conn: cli, sc: newScanner(cli)}
			err := c.auth(features, "u1")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("auth: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("auth error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// scriptedScram plays the server side of one SCRAM-SHA-256 exchange.
func scriptedScram(conn net.Conn, password, finalAs string) {
	sc := newScanner(conn)
	read := func() []byte {
		el, err := sc.next()
		if err != nil {
			return nil
		}
		b, _ := base64.StdEncoding.DecodeString(string(text(el)))
		return b
	}
	send := func(el, data string) {
		if data != "" {
			data = base64.StdEncoding.EncodeToString([]byte(data))
		}
		_, _ = conn.Write([]byte("<" + el + " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + data + "</" + el + ">"))
	}
	first := string(read())
	bare := strings.TrimPrefix(first, "n,,")
	nonce := bare[strings.Index(bare, "r=")+2:] + "server"
	salt := []byte("saltsaltsalt")
	serverFirst := "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(salt) + ",i=4096"
	send("challenge", serverFirst)
	final := string(read())
	if finalAs == "failure" {
		send("failure", "")
		return
	}
	withoutProof := final[:strings.Index(final, ",p=")]
	salted, _ := pbkdf2.Key(sha256.New, password, salt, 4096, 32)
	serverKey := hmac.New(sha256.New, salted)
	serverKey.Write([]byte("Server Key"))
	sig := hmac.New(sha256.New, serverKey.Sum(nil))
	sig.Write([]byte(bare + "," + serverFirst + "," + withoutProof))
	v := "v=" + base64.StdEncoding.EncodeToString(sig.Sum(nil))
	if finalAs == "challenge" {
		send("challenge", v)
		read() // the empty response
		send("success", "")
		return
	}
	send("success", v)
}
