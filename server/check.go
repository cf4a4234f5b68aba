package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/server/auth"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/storage/embedded"
	"github.com/parley-im/parley/xmpp"
)

// CheckModules provisions every enabled module against a throw-away
// in-memory store, so that `parley config check` reports errors in module
// blocks (unknown keys, bad values) exactly as start-up would, without
// listening or touching the real store.
func CheckModules(cfg *conf.Config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	be, err := embedded.OpenFS(vfs.NewMem(), "check", storage.Options{})
	if err != nil {
		return fmt.Errorf("server: config check store: %w", err)
	}
	srv := &Server{
		cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), limits: cfg.Limits,
		hosts: map[string]conf.Host{}, router: newRouter(), store: be,
		iqHandlers: map[string]modules.IQHandler{}, preAuthIQ: map[string]modules.IQHandler{},
	}
	srv.ctx, srv.cancel = ctx, cancel
	for _, h := range cfg.Hosts {
		srv.hosts[h.Domain] = h
	}
	if srv.accounts, err = auth.NewStore(be, auth.StoreOptions{}); err != nil {
		return errors.Join(err, be.Close())
	}
	srv.iqHandlers[xmpp.NSSession] = nil
	err = srv.provisionModules(ctx)
	cancel()
	srv.bg.Wait()
	srv.stopModules(context.Background())
	return errors.Join(err, be.Close())
}
