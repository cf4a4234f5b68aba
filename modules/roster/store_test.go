package roster_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/modules/roster"
	"github.com/parley-im/parley/storage"
)

type slowGets struct{ storage.Backend }

func (b slowGets) Get(ctx context.Context, key []byte) ([]byte, error) {
	time.Sleep(time.Millisecond)
	return b.Backend.Get(ctx, key)
}

func TestStoreVersions(t *testing.T) {
	_, s := newHost(t, alice)
	version := func() string {
		t.Helper()
		v, err := s.Version(ctx, jid(alice))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	bobItem := roster.Item{JID: jid("bob@example.net"), Name: "Bob"}
	steps := []struct {
		name    string
		do      func() (string, error)
		changed bool
	}{
		{name: "add", do: func() (string, error) { return s.Put(ctx, jid(alice), bobItem) }, changed: true},
		{name: "same again", do: func() (string, error) { return s.Put(ctx, jid(alice), bobItem) }},
		{name: "only pending-in", do: func() (string, error) {
			it := bobItem
			it.PendingIn = true
			return s.Put(ctx, jid(alice), it)
		}},
		{name: "rename", do: func() (string, error) {
			it := bobItem
			it.Name = "Robert"
			return s.Put(ctx, jid(alice), it)
		}, changed: true},
		{name: "hidden entry", do: func() (string, error) {
			return s.Put(ctx, jid(alice), roster.Item{JID: jid("carol@example.net"), PendingIn: true, Hidden: true})
		}},
		{name: "remove hidden", do: func() (string, error) { return s.Remove(ctx, jid(alice), jid("carol@example.net")) }},
		{name: "remove missing", do: func() (string, error) { return s.Remove(ctx, jid(alice), jid("nobody@example.net")) }},
		{name: "remove", do: func() (string, error) { return s.Remove(ctx, jid(alice), jid("bob@example.net")) }, changed: true},
	}
	if v := version(); v != "0" {
		t.Fatalf("version of a new roster %s", v)
	}
	prev := "0"
	for _, step := range steps {
		ver, err := step.do()
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if ver != version() {
			t.Errorf("%s returned version %s, stored %s", step.name, ver, version())
		}
		if (ver != prev) != step.changed {
			t.Errorf("%s: version %s after %s, changed %v", step.name, ver, prev, step.changed)
		}
		if ver != prev && prev != "0" {
			a, _ := strconv.ParseUint(prev, 10, 64)
			b, _ := strconv.ParseUint(ver, 10, 64)
			if b != a+1 {
				t.Errorf("%s: version %s after %s is not the next", step.name, ver, prev)
			}
		}
		prev = ver
	}
}

func TestStoreHiddenEntries(t *testing.T) {
	_, s := newHost(t, alice)
	if _, err := s.Put(ctx, jid(alice), roster.Item{JID: jid("bob@example.net"), Subscription: roster.To}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, jid(alice), roster.Item{JID: jid("carol@example.net"), PendingIn: true, Hidden: true}); err != nil {
		t.Fatal(err)
	}
	items, _, err := s.Items(ctx, jid(alice))
	if err != nil || len(items) != 1 || items[0].JID != jid("bob@example.net") {
		t.Errorf("items %+v %v", items, err)
	}
	if _, ok, _ := s.Item(ctx, jid(alice), jid("carol@example.net")); ok {
		t.Error("Item returns a hidden entry")
	}
	if all, _ := s.Entries(ctx, jid(alice)); len(all) != 2 {
		t.Errorf("entries %+v", all)
	}

	// A hidden entry left with nothing pending is deleted.
	c, err := s.Update(ctx, jid(alice), jid("carol@example.net"), func(it *roster.Item, exists bool) bool {
		if !exists || !it.Hidden {
			t.Errorf("update got %+v %v", *it, exists)
		}
		it.PendingIn = false
		return true
	})
	if err != nil || c.Exists || c.Push {
		t.Errorf("change %+v %v", c, err)
	}
	if _, ok := entry(t, s, alice, "carol@example.net"); ok {
		t.Error("vacant hidden entry kept")
	}
	// A visible one stays, whatever its state.
	c, err = s.Update(ctx, jid(alice), jid("bob@example.net"), func(it *roster.Item, _ bool) bool {
		it.Subscription = roster.None
		return true
	})
	if err != nil || !c.Exists || !c.Push || c.Removed || c.Item.Subscription != roster.None {
		t.Errorf("change %+v %v", c, err)
	}

	if err := s.DeleteAll(ctx, jid(alice)); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.Entries(ctx, jid(alice)); len(all) != 0 {
		t.Errorf("entries after DeleteAll %+v", all)
	}
}

func TestStoreConcurrentUpdates(t *testing.T) {
	h, _ := newHost(t, alice)
	// Slow reads widen the window between reading an entry and writing it
	// back; two Stores over one backend share the locks.
	s := roster.NewStore(slowGets{h.Storage()})
	other := roster.NewStore(slowGets{h.Storage()})
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 0 {
				st = other
			}
			_, err := st.Update(ctx, jid(alice), jid("bob@example.net"), func(it *roster.Item, _ bool) bool {
				it.Groups = append(it.Groups, strconv.Itoa(i))
				return true
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	it, _, _ := s.Item(ctx, jid(alice), jid("bob@example.net"))
	if len(it.Groups) != n {
		t.Errorf("%d groups, want %d: updates were lost", len(it.Groups), n)
	}
}

func TestPushWithCurrentVersion(t *testing.T) {
	h, s := newHost(t, alice)
	h.Bind(phone).SetInterested()
	ver, err := s.Put(ctx, jid(alice), roster.Item{JID: jid("bob@example.net"), Subscription: roster.From, Ask: true, PreApproved: false, Groups: []string{"<&>"}})
	if err != nil {
		t.Fatal(err)
	}
	it, _, _ := s.Item(ctx, jid(alice), jid("bob@example.net"))
	s.Push(ctx, h.mh, jid(alice), it, false)
	s.Push(ctx, h.mh, jid(alice), it, true)
	ps := pushesOf(t, h.Delivered())
	if len(ps) != 2 {
		t.Fatalf("pushes %+v", ps)
	}
	if p := ps[0]; p.Ver != ver || p.Item.Subscription != "from" || p.Item.Ask != "subscribe" || len(p.Item.Groups) != 1 || p.Item.Groups[0] != "<&>" {
		t.Errorf("push %+v", p)
	}
	if p := ps[1]; p.Item.Subscription != "remove" || p.Item.JID != "bob@example.net" || len(p.Item.Groups) != 0 {
		t.Errorf("removal push %+v", p)
	}
}
