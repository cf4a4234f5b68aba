package server

import (
	"testing"
	"time"
)

func TestSessionCap(t *testing.T) {
	cases := []struct {
		name       string
		configured int
		limit      uint64
		reserve    int
		want       int
	}{
		{name: "derived from the file limit", limit: 20000, reserve: 512, want: 19488},
		{name: "configured wins", configured: 1000, limit: 20000, reserve: 512, want: 1000},
		{name: "tiny limit keeps a floor", limit: 100, reserve: 512, want: 64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionCap(tc.configured, tc.limit, tc.reserve); got != tc.want {
				t.Fatalf("sessionCap(%d, %d, %d) = %d, want %d", tc.configured, tc.limit, tc.reserve, got, tc.want)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(10, 3) // 10 per second, burst 3
	for i := 0; i < 3; i++ {
		if wait := b.take(now); wait != 0 {
			t.Fatalf("take %d within the burst waited %v", i, wait)
		}
	}
	if wait := b.take(now); wait != 100*time.Millisecond {
		t.Fatalf("over the burst: wait %v, want 100ms", wait)
	}
	// After the wait has passed, the debt is paid and one more is free
	// after another 100 ms.
	if wait := b.take(now.Add(200 * time.Millisecond)); wait != 0 {
		t.Fatalf("after refilling: wait %v", wait)
	}
	unlimited := newBucket(0, 0)
	for i := 0; i < 1000; i++ {
		if unlimited.take(now) != 0 {
			t.Fatal("a zero rate must not limit")
		}
	}
}

func TestCounter(t *testing.T) {
	c := counter{cap: 2}
	if !c.acquire() || !c.acquire() {
		t.Fatal("could not take two slots of two")
	}
	if c.acquire() {
		t.Fatal("took a third slot of two")
	}
	c.release()
	if !c.acquire() || c.count() != 2 {
		t.Fatalf("after release: count %d", c.count())
	}
}
