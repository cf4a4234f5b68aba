package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type provisionOpts struct {
	contacts int
}

func provisionFlags(fs *flag.FlagSet) *provisionOpts {
	p := &provisionOpts{}
	fs.IntVar(&p.contacts, "contacts", 20, "roster items per user: the next N users, wrapping around")
	return p
}

// provisionReport is the result of a provision run.
type provisionReport struct {
	Command      string         `json:"command"`
	Users        int            `json:"users"`
	Created      int            `json:"created"`
	Existing     int            `json:"existing"`
	RosterItems  int            `json:"roster_items"`
	Failed       int            `json:"failed"`
	Failures     *phaseFailures `json:"failures"`
	Seconds      float64        `json:"seconds"`
	UsersPerSec  float64        `json:"users_per_second"`
	PBKDF2Runs   int64          `json:"pbkdf2_runs"`
	Subscription string         `json:"subscription"`
	Interrupted  bool           `json:"interrupted,omitempty"`
}

func (r *provisionReport) human(w io.Writer) {
	fmt.Fprintf(w, "provision: %d users in %.1fs (%.0f/s): %d created, %d existing, %d failed; %d roster items (subscription %s)\n",
		r.Users, r.Seconds, r.UsersPerSec, r.Created, r.Existing, r.Failed, r.RosterItems, r.Subscription)
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failures: %s\n", r.Failures)
	}
}

// errExists marks a registration refused because the account exists.
var errExists = errors.New("account exists")

// runProvision creates the run's users by in-band registration (XEP-0077)
// — the server must have it open — and gives each a roster of the next
// o.contacts users by roster sets (RFC 6121 §2.3). It sets no
// subscriptions: mutual subscription takes four presence stanzas per pair
// and both users online, far too slow by protocol at scale. An existing
// account is logged into with the run's password and gets its roster set
// again (roster sets are idempotent).
func runProvision(ctx context.Context, o *options, p *provisionOpts) (*provisionReport, error) {
	if p.contacts < 0 || p.contacts > 1000 {
		return nil, errors.New("--contacts must be in 0..1000")
	}
	contacts := min(p.contacts, o.users-1)
	rep := &provisionReport{Command: "provision", Users: o.users, Failures: newPhaseFailures(), Subscription: "none"}
	var (
		mu                    sync.Mutex
		created, existing, it atomic.Int64
		next                  atomic.Int64
		wg                    sync.WaitGroup
	)
	start := time.Now()
	tick, stopTick := o.ticker()
	defer stopTick()
	done := make(chan struct{})
	for range min(o.parallel, o.users) {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= o.users {
					return
				}
				n, err := provisionUser(ctx, o, k, contacts)
				it.Add(int64(n))
				switch {
				case errors.Is(err, errExists):
					existing.Add(1)
				case err != nil:
					mu.Lock()
					rep.Failures.add(err)
					mu.Unlock()
				default:
					created.Add(1)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		case <-tick:
			mu.Lock()
			failed := rep.Failures.total()
			mu.Unlock()
			o.progressf("provision: %d created, %d existing, %d failed of %d (%.0fs)",
				created.Load(), existing.Load(), failed, o.users, time.Since(start).Seconds())
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Created, rep.Existing, rep.RosterItems = int(created.Load()), int(existing.Load()), int(it.Load())
	rep.Failed = rep.Failures.total()
	rep.UsersPerSec = float64(rep.Created+rep.Existing) / rep.Seconds
	rep.PBKDF2Runs = o.cc.keys.runs.Load()
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// provisionUser registers user k and sets its roster; it returns the
// roster items set and errExists (after setting the roster) for an account
// that was already there.
func provisionUser(ctx context.Context, o *options, k, contacts int) (int, error) {
	user := o.user(k)
	c, err := dial(ctx, o.cc, k)
	if err != nil {
		return 0, err
	}
	defer c.close()
	f, err := c.features()
	if err != nil {
		return 0, &phaseError{phRegister, err}
	}
	exists := false
	if child(f, "register") == nil {
		return 0, &phaseError{phRegister, errors.New("server does not offer in-band registration")}
	}
	_, err = c.iq(`<iq type='set' id='%s'><query xmlns='jabber:iq:register'><username>` + escape(user) +
		`</username><password>` + escape(o.password) + `</password></query></iq>`)
	if err != nil {
		if !bytes.Contains([]byte(err.Error()), []byte("<conflict")) {
			return 0, &phaseError{phRegister, err}
		}
		exists = true
	}
	if err := c.auth(f, user); err != nil {
		return 0, &phaseError{phAuth, err}
	}
	if err := c.bind(); err != nil {
		return 0, &phaseError{phBind, err}
	}
	n, err := c.setRoster(o, k, contacts)
	if err != nil {
		return n, &phaseError{phRoster, err}
	}
	if exists {
		return n, errExists
	}
	return n, nil
}

// setRoster pipelines one roster set per contact (RFC 6121 allows one item
// per set) and waits for every result.
func (c *client) setRoster(o *options, k, contacts int) (int, error) {
	if contacts == 0 {
		return 0, nil
	}
	var b []byte
	for j := 1; j <= contacts; j++ {
		peer := o.user((k + j) % o.users)
		b = fmt.Appendf(b, `<iq type='set' id='r%d'><query xmlns='jabber:iq:roster'><item jid='%s@%s' name='%s'/></query></iq>`,
			j, escape(peer), escape(o.domain), escape(peer))
	}
	if err := c.write(b); err != nil {
		return 0, err
	}
	ok := 0
	for got := 0; got < contacts; {
		el, err := c.sc.next()
		if err != nil {
			return ok, err
		}
		id := attr(el, "id")
		if string(name(el)) != "iq" || len(id) < 2 || id[0] != 'r' {
			continue // roster pushes and anything else
		}
		if _, err := strconv.Atoi(string(id[1:])); err != nil {
			continue
		}
		switch string(attr(el, "type")) {
		case "result":
			got++
			ok++
		case "error":
			return ok, fmt.Errorf("roster set refused: %.300s", el)
		}
	}
	return ok, nil
}
