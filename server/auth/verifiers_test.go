package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestVerifiersRoundTrip(t *testing.T) {
	v, err := NewVerifiers("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := 6 + SaltLen + 2*sha1.Size + 2*sha256.Size; len(b) != want {
		t.Errorf("encoded %d bytes, want %d", len(b), want)
	}
	var got Verifiers
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got.Version != VerifiersVersion || got.Iterations != v.Iterations || !bytes.Equal(got.Salt, v.Salt) ||
		!bytes.Equal(got.SHA1.StoredKey, v.SHA1.StoredKey) || !bytes.Equal(got.SHA1.ServerKey, v.SHA1.ServerKey) ||
		!bytes.Equal(got.SHA256.StoredKey, v.SHA256.StoredKey) || !bytes.Equal(got.SHA256.ServerKey, v.SHA256.ServerKey) {
		t.Fatalf("round trip: got %+v, want %+v", got, v)
	}
}

func TestVerifiersDecodeErrors(t *testing.T) {
	v, err := NewVerifiers("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := v.MarshalBinary()
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		rec  []byte
	}{
		{name: "empty", rec: nil},
		{name: "short", rec: good[:5]},
		{name: "truncated", rec: good[:len(good)-1]},
		{name: "trailing byte", rec: append(bytes.Clone(good), 0)},
		{name: "unknown version", rec: mutate(func(b []byte) []byte { b[0] = 2; return b })},
		{name: "zero iterations", rec: mutate(func(b []byte) []byte { copy(b[1:5], []byte{0, 0, 0, 0}); return b })},
		{name: "too many iterations", rec: mutate(func(b []byte) []byte { copy(b[1:5], []byte{0xff, 0, 0, 0}); return b })},
		{name: "empty salt", rec: mutate(func(b []byte) []byte { b[5] = 0; return append(b[:6], b[6+SaltLen:]...) })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Verifiers
			if err := got.UnmarshalBinary(tc.rec); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("UnmarshalBinary = %v, want ErrBadRecord", err)
			}
		})
	}
}

func TestNewVerifiersIterations(t *testing.T) {
	tests := []struct {
		name       string
		iterations int
		want       int
		wantErr    bool
	}{
		{name: "default", iterations: 0, want: DefaultIterations},
		{name: "more", iterations: 10000, want: 10000},
		{name: "too few", iterations: 1000, wantErr: true},
		{name: "too many", iterations: MaxIterations + 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifiers("pencil", tc.iterations)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewVerifiers(%d) error = %v, want error %v", tc.iterations, err, tc.wantErr)
			}
			if err == nil && v.Iterations != tc.want {
				t.Fatalf("Iterations = %d, want %d", v.Iterations, tc.want)
			}
		})
	}
}
