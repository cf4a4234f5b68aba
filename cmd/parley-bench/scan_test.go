package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestScannerFrames(t *testing.T) {
	in := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='a>b' version="1.0">` +
		` <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>` +
		"\n<message from='a@b' x='1>2'><body>hi &amp; <![CDATA[<not/>]]></body><!-- c --></message>" +
		`<presence/></stream:stream>`
	tests := []struct {
		name   string
		reader func(io.Reader) io.Reader
	}{
		{name: "whole", reader: func(r io.Reader) io.Reader { return r }},
		{name: "one byte at a time", reader: iotest.OneByteReader},
	}
	want := []string{
		`<stream:stream xmlns='jabber:client' id='a>b' version="1.0">`,
		`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
		"<message from='a@b' x='1>2'><body>hi &amp; <![CDATA[<not/>]]></body><!-- c --></message>",
		`<presence/>`,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScanner(tt.reader(strings.NewReader(in)))
			s.buf = make([]byte, 16) // force compaction and growth
			for i, w := range want {
				el, err := s.next()
				if err != nil {
					t.Fatalf("element %d: %v", i, err)
				}
				if string(el) != w {
					t.Fatalf("element %d = %q, want %q", i, el, w)
				}
			}
			if _, err := s.next(); err != errStreamClosed {
				t.Fatalf("after the last element: %v, want errStreamClosed", err)
			}
		})
	}
}

func TestElementHelpers(t *testing.T) {
	el := []byte(`<iq type="result" id='b1' xml:id='x'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>u1@localhost/bench</jid></bind><x/></iq>`)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "name", got: string(name(el)), want: "iq"},
		{name: "attr double quotes", got: string(attr(el, "type")), want: "result"},
		{name: "attr exact name", got: string(attr(el, "id")), want: "b1"},
		{name: "attr prefixed", got: string(attr(el, "xml:id")), want: "x"},
		{name: "attr missing", got: string(attr(el, "to")), want: ""},
		{name: "child text", got: string(text(child(el, "jid"))), want: "u1@localhost/bench"},
		{name: "empty child", got: string(child(el, "x")), want: "<x/>"},
		{name: "no prefix match", got: string(child(el, "bin")), want: ""},
		{name: "offers", got: map[bool]string{true: "y", false: "n"}[offers([]byte(
			`<stream:features><mechanisms><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`), "PLAIN")], want: "y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestScram checks the client against RFC 7677 §3's example exchange.
func TestScram(t *testing.T) {
	cache := &keyCache{}
	for i := range 2 {
		c, err := newScramClient("SCRAM-SHA-256", "user", "pencil", cache)
		if err != nil {
			t.Fatal(err)
		}
		c.nonce = "rOprNGfwEbeRWgbNEkqO"
		c.clientFirstBare = "n=user,r=" + c.nonce
		final, err := c.final([]byte("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
		if err != nil {
			t.Fatal(err)
		}
		want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		if string(final) != want {
			t.Fatalf("client-final = %q, want %q", final, want)
		}
		if err := c.verify([]byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err != nil {
			t.Fatal(err)
		}
		if err := c.verify([]byte("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err == nil {
			t.Fatal("a wrong server signature verified")
		}
		if got := cache.runs.Load(); got != 1 {
			t.Fatalf("login %d: PBKDF2 ran %d times, want once", i+1, got)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		name string
		q    float64
		want float64 // ms
	}{
		{name: "p50", q: 0.5, want: 500},
		{name: "p99", q: 0.99, want: 990},
		{name: "p999", q: 0.999, want: 999},
		{name: "max", q: 1, want: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.quantile(tt.q)
			if got < tt.want || got > tt.want*1.04 {
				t.Fatalf("quantile(%v) = %v ms, want %v within +4%%", tt.q, got, tt.want)
			}
		})
	}
	for us := int64(0); us < 1<<20; us = us*9/8 + 1 {
		if b := bucketOf(us); bucketValue(b) < us || (b > 0 && bucketValue(b-1) >= us) {
			t.Fatalf("value %d in bucket %d of upper bound %d (previous %d)", us, b, bucketValue(b), bucketValue(b-1))
		}
	}
}

func TestParsers(t *testing.T) {
	cpu, err := parseStatCPU([]byte("4242 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0"))
	if err != nil || cpu != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", cpu, err)
	}
	want := stamp{run: 4242, step: 2, sender: 17, seq: 99, due: 3600000000000}
	b := appendStamp(nil, want)
	if string(b) != "4242.2.17.99.3600000000000 " {
		t.Fatalf("appendStamp = %q", b)
	}
	if got, ok := parseStamp(append(b, "xxxx"...)); !ok || got != want {
		t.Fatalf("parseStamp = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range []string{"1.2.17.x", "1.2.17.5", "1.2.17.5.1234567890123456789", ""} {
		if _, ok := parseStamp([]byte(bad)); ok {
			t.Fatalf("parseStamp accepted %q", bad)
		}
	}
	p, err := newSrcPool("127.1.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.addr(0).String(); got != "127.1.0.1" {
		t.Fatalf("first source %s, want 127.1.0.1", got)
	}
	if got := p.addr(65534).String(); got != "127.1.0.1" {
		t.Fatalf("source 65534 %s, want wrap-around to 127.1.0.1", got)
	}
	if _, err := newSrcPool("10.0.0.0/8"); err == nil {
		t.Fatal("a source block outside 127.0.0.0/8 was accepted")
	}
}

// FuzzScanner feeds arbitrary input to the scanner and the element
// helpers: they must not panic, and every element handed back must be a
// tag-delimited slice of the input.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`<?xml version='1.0'?><stream:stream a='>'><x y="1"><z/>t</x><!-- c --><![CDATA[<]]></stream:stream>`))
	f.Add([]byte(`<a b='c'/><d>`))
	f.Add([]byte(`</x>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newScanner(iotest.HalfReader(bytes.NewReader(in)))
		s.buf = make([]byte, 8)
		for range len(in) + 1 {
			el, err := s.next()
			if err != nil {
				return
			}
			if len(el) < 2 || el[0] != '<' || el[len(el)-1] != '>' || !bytes.Contains(in, el) {
				t.Fatalf("element %q from input %q", el, in)
			}
			_, _, _ = attr(el, "id"), text(el), child(el, "body")
		}
	})
}
