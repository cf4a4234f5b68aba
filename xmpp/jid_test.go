package xmpp

import (
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

func TestParseJID(t *testing.T) {
	tests := []struct {
		name                   string
		in                     string
		want                   string
		local, domain, resourc string
		err                    error // nil: valid; else errors.Is target
	}{
		{name: "domain", in: "example.com", want: "example.com", domain: "example.com"},
		{name: "bare", in: "juliet@example.com", want: "juliet@example.com", local: "juliet", domain: "example.com"},
		{name: "full", in: "juliet@example.com/balcony", want: "juliet@example.com/balcony", local: "juliet", domain: "example.com", resourc: "balcony"},
		{name: "domain with resource", in: "example.com/x", want: "example.com/x", domain: "example.com", resourc: "x"},
		{name: "case folded", in: "Juliet@Example.COM/Balcony", want: "juliet@example.com/Balcony", local: "juliet", domain: "example.com", resourc: "Balcony"},
		{name: "trailing dot", in: "juliet@example.com./r", want: "juliet@example.com/r", local: "juliet", domain: "example.com", resourc: "r"},
		{name: "resource with separators", in: "a@b/c@d/e", want: "a@b/c@d/e", local: "a", domain: "b", resourc: "c@d/e"},
		{name: "resource with space", in: "a@b/c d", want: "a@b/c d", local: "a", domain: "b", resourc: "c d"},
		{name: "unicode local", in: "Ju̇liet@example.com", want: "ju̇liet@example.com", local: "ju̇liet", domain: "example.com"},
		{name: "unicode domain", in: "juliet@ÉXAMPLE.com", want: "juliet@éxample.com", local: "juliet", domain: "éxample.com"},
		{name: "a-label decoded", in: "juliet@xn--bcher-kva.example", want: "juliet@bücher.example", local: "juliet", domain: "bücher.example"},
		{name: "ipv4", in: "juliet@192.0.2.1", want: "juliet@192.0.2.1", local: "juliet", domain: "192.0.2.1"},
		{name: "ipv6", in: "juliet@[2001:db8::1]/r", want: "juliet@[2001:db8::1]/r", local: "juliet", domain: "[2001:db8::1]", resourc: "r"},
		{name: "empty", in: "", err: ErrJIDEmpty},
		{name: "empty local", in: "@example.com", err: ErrJIDInvalid},
		{name: "empty domain", in: "juliet@", err: ErrJIDInvalid},
		{name: "empty resource", in: "juliet@example.com/", err: ErrJIDInvalid},
		{name: "only dot", in: "juliet@.", err: ErrJIDInvalid},
		{name: "forbidden local char", in: "ju\"liet@example.com", err: ErrJIDInvalid},
		{name: "space in local", in: "ju liet@example.com", err: ErrJIDInvalid},
		{name: "leading hyphen label", in: "juliet@-example.com", err: ErrJIDInvalid},
		{name: "two trailing dots", in: "juliet@example.com..", err: ErrJIDInvalid},
		{name: "long local", in: strings.Repeat("a", 1024) + "@example.com", err: ErrJIDTooLong},
		{name: "long resource", in: "a@b/" + strings.Repeat("r", 1024), err: ErrJIDTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseJID(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseJID(%q) = %q, %v; want error %v", tt.in, j, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJID(%q): %v", tt.in, err)
			}
			if j.String() != tt.want || j.Local() != tt.local || j.Domain() != tt.domain || j.Resource() != tt.resourc {
				t.Errorf("ParseJID(%q) = %q (%q, %q, %q); want %q (%q, %q, %q)", tt.in, j, j.Local(), j.Domain(), j.Resource(),
					tt.want, tt.local, tt.domain, tt.resourc)
			}
		})
	}
}

func TestNewJID(t *testing.T) {
	tests := []struct {
		name                    string
		local, domain, resource string
		want                    string
		wantErr                 bool
	}{
		{name: "full", local: "Juliet", domain: "Example.com", resource: "balcony", want: "juliet@example.com/balcony"},
		{name: "domain only", domain: "example.com", want: "example.com"},
		{name: "resource keeps separators", local: "a", domain: "b", resource: "x/y@z", want: "a@b/x/y@z"},
		{name: "non-ascii", local: "JÜLIET", domain: "example.com", want: "jüliet@example.com"},
		{name: "slash in local", local: "a/b", domain: "example.com", wantErr: true},
		{name: "at in local", local: "a@b", domain: "example.com", wantErr: true},
		{name: "at in domain", domain: "juliet@example.com", wantErr: true},
		{name: "slash in domain", domain: "example.com/r", wantErr: true},
		{name: "no domain", local: "a", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := NewJID(tt.local, tt.domain, tt.resource)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewJID(%q, %q, %q) = %q; want an error", tt.local, tt.domain, tt.resource, j)
				}
				return
			}
			if err != nil || j.String() != tt.want {
				t.Fatalf("NewJID(%q, %q, %q) = %q, %v; want %q", tt.local, tt.domain, tt.resource, j, err, tt.want)
			}
		})
	}
}

func TestJIDParts(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		bare      string
		domainJID string
		isBare    bool
	}{
		{name: "full", in: "juliet@example.com/balcony", bare: "juliet@example.com", domainJID: "example.com"},
		{name: "bare", in: "juliet@example.com", bare: "juliet@example.com", domainJID: "example.com", isBare: true},
		{name: "domain", in: "example.com", bare: "example.com", domainJID: "example.com", isBare: true},
		{name: "domain resource", in: "example.com/r", bare: "example.com", domainJID: "example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := MustParseJID(tt.in)
			if got := j.Bare(); got != MustParseJID(tt.bare) {
				t.Errorf("Bare() = %q; want %q", got, tt.bare)
			}
			if got := j.DomainJID(); got != MustParseJID(tt.domainJID) {
				t.Errorf("DomainJID() = %q; want %q", got, tt.domainJID)
			}
			if j.IsBare() != tt.isBare {
				t.Errorf("IsBare() = %v; want %v", j.IsBare(), tt.isBare)
			}
			w, err := j.WithResource("Other")
			if err != nil || w.Resource() != "Other" || w.Bare() != j.Bare() {
				t.Errorf("WithResource = %q, %v", w, err)
			}
		})
	}
	if !(JID{}).IsZero() || MustParseJID("a").IsZero() {
		t.Error("IsZero wrong")
	}
}

// FuzzParseJID checks that ParseJID never panics, is idempotent, and agrees
// with mellium.im/xmpp/jid (full PRECIS) on what is valid and on the
// normalised form, so the ASCII fast path can never diverge from it.
func FuzzParseJID(f *testing.F) {
	for _, s := range []string{
		"juliet@example.com/balcony", "Juliet@EXAMPLE.com", "example.com.", "a@b/c/d", "xn--bcher-kva.example",
		"a@-b.com", "a@b..c", "a@b.c-", "a@ab--c.com", "a@192.0.2.1", "a@[::1]", "a_b+c@d", "ju̇liet@example.com",
		"a@b/ r", "a@b_c.com", "@b", "a@", "a@b/", "a@.", "a@b..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJID(s)
		m, merr := jid.Parse(s)
		if merr == nil && strings.HasSuffix(m.Domainpart(), ".") {
			// mellium keeps the second of two trailing dots; ParseJID
			// refuses the address, which would not parse to itself.
			if err == nil {
				t.Fatalf("ParseJID(%q) = %q; want an error for a domainpart ending in a dot", s, j)
			}
			return
		}
		if (err == nil) != (merr == nil) {
			t.Fatalf("ParseJID(%q) = %q, %v; mellium: %q, %v", s, j, err, m, merr)
		}
		if err != nil {
			return
		}
		if j.String() != m.String() || j.Local() != m.Localpart() || j.Domain() != m.Domainpart() || j.Resource() != m.Resourcepart() {
			t.Fatalf("ParseJID(%q) = %q; mellium: %q", s, j, m)
		}
		again, err := ParseJID(j.String())
		if err != nil || again != j {
			t.Fatalf("ParseJID(%q) = %q, %v; not idempotent after %q", j.String(), again, err, j)
		}
		if n, err := NewJID(j.Local(), j.Domain(), j.Resource()); err != nil || n != j {
			t.Fatalf("NewJID(parts of %q) = %q, %v", j, n, err)
		}
	})
}

var jidSink JID

func BenchmarkParseJID(b *testing.B) {
	for _, bb := range []struct{ name, in string }{
		{name: "ascii", in: "juliet@example.com/balcony"},
		{name: "ascii-upper", in: "Juliet@Example.com/balcony"},
		{name: "non-ascii", in: "jüliet@example.com/balcony"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.in)))
			for b.Loop() {
				j, err := ParseJID(bb.in)
				if err != nil {
					b.Fatal(err)
				}
				jidSink = j
			}
		})
	}
}
