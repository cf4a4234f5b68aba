package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/parley-im/parley/conf"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/auth"
	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/xmpp"
)

// userCmd manages accounts. It talks to a running server through its admin
// API; when none is running it opens the store directly.
func userCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: parley user add|del|passwd|list ...")
	}
	sub := args[0]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	password := fs.String("password", "", "the password (prompted for when absent)")
	// Flags may come before or after the JID.
	var pos []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	a := &accountsClient{cfg: cfg}
	ctx := context.Background()
	switch sub {
	case "add", "passwd":
		if len(pos) != 1 {
			return fmt.Errorf("usage: parley user %s JID [--password P]", sub)
		}
		pw := *password
		if pw == "" {
			if pw, err = readPassword(stdin, stderr); err != nil {
				return err
			}
		}
		if sub == "add" {
			err = a.add(ctx, pos[0], pw)
		} else {
			err = a.passwd(ctx, pos[0], pw)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", pos[0], map[string]string{"add": "created", "passwd": "password changed"}[sub])
	case "del":
		if len(pos) != 1 {
			return errors.New("usage: parley user del JID")
		}
		if err := a.del(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: deleted\n", pos[0])
	case "list":
		domain := ""
		if len(pos) > 0 {
			domain = pos[0]
		}
		users, err := a.list(ctx, domain)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintln(stdout, u)
		}
	default:
		return fmt.Errorf("unknown user command %q (add, del, passwd, list)", sub)
	}
	return nil
}

// readPassword prompts twice on a terminal, or reads one line otherwise.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(a, b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password given (use --password or type it on standard input)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// accountsClient performs account operations through the admin API of a
// running server, or on the store when no server answers.
type accountsClient struct {
	cfg *conf.Config
}

var errNoServer = errors.New("no running server")

func (a *accountsClient) api(ctx context.Context, method, path string, body any, out any) error {
	addr := a.cfg.Admin.Address
	if addr == "" || addr == "off" {
		return errNoServer
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if token, err := server.ReadToken(a.cfg.DataDir); err == nil {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && errors.Is(err, syscall.ECONNREFUSED) {
			return errNoServer
		}
		return fmt.Errorf("admin api at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("server refused: %s", orDefault(e.Error, resp.Status))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// offline opens the store for a direct operation; it fails clearly when a
// server holds the store but its admin API did not answer.
func (a *accountsClient) offline(ctx context.Context, fn func(*auth.Store) error) error {
	be, err := storage.Open(ctx, a.cfg.Storage.Backend, storage.Options{
		Dir: a.cfg.DataDir, Config: &a.cfg.Storage.Options, MaxOpenFiles: 64,
	})
	if err != nil {
		return fmt.Errorf("no server answered on the admin address %s, and the store could not be opened: %w",
			a.cfg.Admin.Address, err)
	}
	defer be.Close()
	store, err := auth.NewStore(be, auth.StoreOptions{})
	if err != nil {
		return err
	}
	return fn(store)
}

func (a *accountsClient) userJID(s string) (xmpp.JID, error) {
	j, err := xmpp.ParseJID(s)
	if err != nil {
		return xmpp.JID{}, fmt.Errorf("invalid jid %q: %w", s, err)
	}
	if j.Local() == "" || !j.IsBare() {
		return xmpp.JID{}, fmt.Errorf("a user is a bare jid like alice@%s, not %q", a.cfg.Hosts[0].Domain, s)
	}
	for _, h := range a.cfg.Hosts {
		if h.Domain == j.Domain() {
			return j, nil
		}
	}
	return xmpp.JID{}, fmt.Errorf("%s is not a domain of this server", j.Domain())
}

func (a *accountsClient) add(ctx context.Context, jid, password string) error {
	j, err := a.userJID(jid)
	if err != nil {
		return err
	}
	err = a.api(ctx, http.MethodPost, "/api/users", server.UserRequest{JID: j.String(), Password: password}, nil)
	if err == errNoServer {
		return a.offline(ctx, func(s *auth.Store) error { return s.Create(ctx, j, password) })
	}
	return err
}

func (a *accountsClient) passwd(ctx context.Context, jid, password string) error {
	j, err := a.userJID(jid)
	if err != nil {
		return err
	}
	err = a.api(ctx, http.MethodPut, "/api/users/"+url.PathEscape(j.String())+"/password",
		server.UserRequest{Password: password}, nil)
	if err == errNoServer {
		return a.offline(ctx, func(s *auth.Store) error {
			if ok, err := s.Exists(ctx, j); err != nil || !ok {
				return errors.Join(fmt.Errorf("no such user: %s", j), err)
			}
			return s.SetPassword(ctx, j, password)
		})
	}
	return err
}

func (a *accountsClient) del(ctx context.Context, jid string) error {
	j, err := a.userJID(jid)
	if err != nil {
		return err
	}
	err = a.api(ctx, http.MethodDelete, "/api/users/"+url.PathEscape(j.String()), nil, nil)
	if err == errNoServer {
		// Without a server, modules are not running to drop their
		// data: refuse rather than leave orphaned records.
		return fmt.Errorf("deleting %s needs the server running (it removes the account's data in every module)", j)
	}
	return err
}

func (a *accountsClient) list(ctx context.Context, domain string) ([]string, error) {
	var users []string
	q := ""
	if domain != "" {
		q = "?domain=" + url.QueryEscape(domain)
	}
	err := a.api(ctx, http.MethodGet, "/api/users"+q, nil, &users)
	if err == errNoServer {
		err = a.offline(ctx, func(s *auth.Store) error {
			for _, h := range a.cfg.Hosts {
				if domain != "" && h.Domain != domain {
					continue
				}
				list, err := s.List(ctx, h.Domain)
				if err != nil {
					return err
				}
				for _, u := range list {
					users = append(users, u.String())
				}
			}
			return nil
		})
	}
	return users, err
}
