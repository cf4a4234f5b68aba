// Command parley is the Parley IM server and its administration tool.
//
//	parley serve [--config FILE]          run the server (embedded defaults without --config)
//	parley config check [--config FILE]   validate a configuration without starting
//	parley user add|del|passwd|list ...   manage accounts (through a running server or the store)
//	parley status [--config FILE]         print a running server's status
//	parley version                        print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parley-im/parley/conf"
	_ "github.com/parley-im/parley/modules/all" // every built-in module
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/storage"
	_ "github.com/parley-im/parley/storage/embedded"
)

const usage = `Parley — an XMPP-compatible, plugin-extensible IM server.

Usage:
  parley serve [--config FILE]
  parley config check [--config FILE]
  parley user add JID [--password P] [--config FILE]
  parley user del JID [--config FILE]
  parley user passwd JID [--password P] [--config FILE]
  parley user list [DOMAIN] [--config FILE]
  parley status [--config FILE]
  parley version

Without --config, Parley runs on its embedded defaults: domain localhost,
XMPP on 127.0.0.1:5222 (STARTTLS) and 5223 (direct TLS), WebSocket on
127.0.0.1:5280/xmpp-websocket, data in ./parley-data.
`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			return errors.New("usage: parley config check [--config FILE]")
		}
		return configCheck(rest[1:], stdout)
	case "user":
		return userCmd(rest, stdin, stdout, stderr)
	case "status":
		return statusCmd(rest, stdout)
	case "version":
		fmt.Fprintln(stdout, "parley", server.Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// loadConfig reads --config, or the defaults when it is empty.
func loadConfig(path string) (*conf.Config, error) {
	if path == "" {
		return conf.Default(), nil
	}
	return conf.Load(path)
}

// checkConfig applies the checks that need the server's registries.
func checkConfig(cfg *conf.Config) error {
	if !contains(storage.Names(), cfg.Storage.Backend) {
		return cfg.Errorf("storage.backend", "unknown backend %q (have %s)",
			cfg.Storage.Backend, strings.Join(storage.Names(), ", "))
	}
	return nil
}

// configFlag parses a command's only flag, --config, and loads and checks
// the configuration it names.
func configFlag(name string, args []string) (*conf.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return nil, err
	}
	return cfg, checkConfig(cfg)
}

func serve(args []string, stderr io.Writer) error {
	cfg, err := configFlag("serve", args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func configCheck(args []string, stdout io.Writer) error {
	cfg, err := configFlag("config check", args)
	if err != nil {
		return err
	}
	if err := server.CheckModules(cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d domains, %d listeners, storage %s)\n",
		orDefault(cfg.File, "defaults"), len(cfg.Hosts), len(cfg.Listeners), cfg.Storage.Backend)
	return nil
}

func newLogger(c conf.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(orDefault(c.Level, "info")))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
