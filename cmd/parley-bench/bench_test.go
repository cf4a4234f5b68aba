package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/server/servertest"
)

// TestAgainstParley runs the three commands against an in-process Parley
// as a smoke test: 50 users, a few seconds, and checks the accounting
// rather than any speed.
func TestAgainstParley(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts a server and runs a short load (skipped with -short)")
	}
	srv := servertest.Start(t, func(c *conf.Config) {
		c.Hosts[0].Registration = true
		c.Limits.Stanzas = conf.Rate{}
		c.Limits.AuthPerIP = conf.Rate{}
		c.Limits.AuthPerAccount = conf.Rate{}
	})
	const users = 50
	base := []string{"--server", srv.Addr("xmpp").String(), "--insecure", "--users", "50",
		"--src", "127.3.0.0/16", "--progress", "500ms", "--parallel", "16"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runJSON := func(t *testing.T, out any, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(ctx, append(args, base...), &stdout, &stderr)
		t.Logf("%s\n%s", strings.Join(args, " "), stderr.String())
		if err != nil {
			t.Fatalf("%s: %v", args[0], err)
		}
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			t.Fatalf("%s: report is not JSON: %v\n%s", args[0], err, stdout.String())
		}
	}

	t.Run("provision", func(t *testing.T) {
		var rep provisionReport
		runJSON(t, &rep, "provision", "--contacts", "20")
		if rep.Created != users || rep.Failed != 0 || rep.RosterItems != users*20 {
			t.Fatalf("created %d, failed %d (%v), roster items %d; want %d, 0, %d",
				rep.Created, rep.Failed, rep.Failures, rep.RosterItems, users, users*20)
		}
		// A second run finds every account and sets the rosters again.
		runJSON(t, &rep, "provision", "--contacts", "20", "--mech", "PLAIN")
		if rep.Existing != users || rep.Created != 0 || rep.Failed != 0 {
			t.Fatalf("second run: existing %d, created %d, failed %d (%v); want %d, 0, 0",
				rep.Existing, rep.Created, rep.Failed, rep.Failures, users)
		}
	})

	t.Run("conns", func(t *testing.T) {
		var rep connsReport
		runJSON(t, &rep, "conns", "--ramp", "500", "--hold", "1s")
		if rep.Up != users || rep.Failed != 0 || rep.Dropped != 0 {
			t.Fatalf("up %d, failed %d (%v), dropped %d; want %d, 0, 0", rep.Up, rep.Failed, rep.Failures, rep.Dropped, users)
		}
		if rep.Login.Count != users || rep.Phases["auth"].Count != users || rep.Login.P50 <= 0 {
			t.Fatalf("login latency %+v, auth %+v: want %d samples each", rep.Login, rep.Phases["auth"], users)
		}
		if rep.PBKDF2Runs != users { // one per account: Parley salts each one
			t.Fatalf("PBKDF2 ran %d times, want %d", rep.PBKDF2Runs, users)
		}
		n := 0
		for k, c := range rep.KeyExch {
			if !strings.HasPrefix(k, "TLS") {
				t.Fatalf("key exchange %q", k)
			}
			n += c
		}
		if n != users {
			t.Fatalf("key exchanges counted %d, want %d", n, users)
		}
	})

	for _, size := range []string{"minimal", "modern"} {
		t.Run("msgs "+size, func(t *testing.T) {
			var rep msgsReport
			runJSON(t, &rep, "msgs", "--rates", "200", "--step", "2s", "--size", size)
			if len(rep.Steps) != 1 {
				t.Fatalf("%d steps, want 1", len(rep.Steps))
			}
			s := rep.Steps[0]
			if s.Sent < 300 || s.Sent > 420 {
				t.Fatalf("sent %d in 2s at 200/s, want about 400", s.Sent)
			}
			if s.Delivered != s.Sent || s.Lost != 0 || s.Duplicated != 0 || s.OutOfOrder != 0 || s.Bounced != 0 || s.SendErrors != 0 {
				t.Fatalf("step %+v: want everything delivered once, in order", s)
			}
			if s.Latency.Count != uint64(s.Delivered) || s.Latency.P50 <= 0 {
				t.Fatalf("latency %+v for %d delivered", s.Latency, s.Delivered)
			}
		})
	}
}
