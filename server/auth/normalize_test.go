package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/xmpp"
)

func TestNormalizeUser(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "ascii", in: "alice", want: "alice"},
		{name: "upper case", in: "Alice", want: "alice"},
		{name: "non-ascii", in: "Jürgen", want: "jürgen"},
		{name: "decomposed", in: "ju\u0308rgen", want: "jürgen"},
		{name: "full width", in: "ＡＬＩＣＥ", want: "alice"},
		{name: "comma and equals", in: "a,b=c", want: "a,b=c"},
		{name: "empty", in: "", wantErr: ErrEmptyUser},
		{name: "at sign", in: "a@b", wantErr: ErrInvalidUser},
		{name: "slash", in: "a/b", wantErr: ErrInvalidUser},
		{name: "full width at sign", in: "a＠b", wantErr: ErrInvalidUser},
		{name: "space", in: "a b", wantErr: ErrInvalidUser},
		{name: "forbidden quote", in: `a"b`, wantErr: ErrInvalidUser},
		{name: "invalid utf-8", in: "a\xffb", wantErr: ErrInvalidUser},
		{name: "too long", in: strings.Repeat("a", 1024), wantErr: ErrInvalidUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeUser(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("NormalizeUser(%q) = %q, %v; want error %v", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeUser(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			// The same localpart as the server's JID parser gives.
			j, err := xmpp.ParseJID(tc.in + "@example.org")
			if err != nil || j.Local() != got {
				t.Errorf("ParseJID(%q@example.org).Local() = %q, %v; want %q", tc.in, j.Local(), err, got)
			}
		})
	}
}

func TestNormalizePassword(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "ascii", in: "pencil", want: "pencil"},
		{name: "case kept", in: "PeNcIl", want: "PeNcIl"},
		{name: "non-ascii", in: "pässwörd ✓", want: "pässwörd ✓"},
		{name: "nfd to nfc", in: "pa\u0308sswo\u0308rd ✓", want: "pässwörd ✓"},
		{name: "non-ascii space", in: "a\u00a0b", want: "a b"},
		{name: "empty", in: "", wantErr: ErrEmptyPassword},
		{name: "control character", in: "a\x07b", wantErr: ErrInvalidPassword},
		{name: "invalid utf-8", in: "a\xffb", wantErr: ErrInvalidPassword},
		{name: "too long", in: strings.Repeat("p", MaxPasswordLen+1), wantErr: ErrInvalidPassword},
		{name: "longest", in: strings.Repeat("p", MaxPasswordLen), want: strings.Repeat("p", MaxPasswordLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizePassword(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("NormalizePassword(%q) = %q, %v; want error %v", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizePassword(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
