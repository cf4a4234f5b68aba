package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// domain is the virtual host every test server serves; the generated
// certificate covers it, so clients verify TLS against it.
const domain = "localhost"

const (
	buildTimeout  = 5 * time.Minute
	readyTimeout  = 30 * time.Second
	stopTimeout   = 5 * time.Second
	cliTimeout    = 30 * time.Second
	clientTimeout = 3 * time.Minute
	logTailBytes  = 48 << 10
)

// stepTimeout is the client scripts' --timeout: seconds any one step (a
// login, an IQ, an awaited stanza) may take. Generous, because CI runs the
// server with -race next to other test binaries on two cores.
const stepTimeout = "20"

// binDir holds the parley binary built for this run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: temp dir:", err)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// parleyBinary builds cmd/parley once per test run, with -race when the
// tests themselves run with -race, so real clients also hunt server races.
func parleyBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(binDir, "parley")
		args := []string{"build", "-o", build.path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/parley")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), root, err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("interop: building parley: %v", build.err)
	}
	return build.path
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the parley module")
	}
	return filepath.Dir(gomod), nil
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// requireInterop skips under -short: these tests start processes.
func requireInterop(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop tests start the server and real clients; skipped with -short")
	}
}

// requireDep fails under CI=true and skips loudly elsewhere when a client
// the test needs is not installed.
func requireDep(t *testing.T, missing error) {
	t.Helper()
	if missing == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("interop: %v; CI must install it: run .ci/run", missing)
	}
	t.Skipf("SKIPPING: %v (run .ci/run to install the interop clients)", missing)
}

// server is one running parley process.
type server struct {
	t         *testing.T
	bin       string
	dir       string
	config    string
	logPath   string
	xmppAddr  string // host:port, STARTTLS
	xmppsAddr string // host:port, direct TLS
	wsURL     string // ws://host:port/xmpp-websocket
	adminAddr string
	certFile  string // the self-signed certificate the server generated
	cmd       *exec.Cmd
	exited    chan struct{}
	waitErr   error
}

// startServer starts parley with every listener on a free loopback port,
// waits until /api/status answers 200, and registers a cleanup that stops
// it with SIGTERM and fails the test unless it exits 0 within stopTimeout.
func startServer(t *testing.T) *server {
	t.Helper()
	bin := parleyBinary(t)
	dir := t.TempDir()
	ports := freePorts(t, 4)
	s := &server{
		t:         t,
		bin:       bin,
		dir:       dir,
		config:    filepath.Join(dir, "parley.yaml"),
		logPath:   filepath.Join(dir, "server.log"),
		xmppAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		xmppsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		adminAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3])),
		certFile:  filepath.Join(dir, "data", "tls", "cert.pem"),
		exited:    make(chan struct{}),
	}
	s.wsURL = "ws://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])) + "/xmpp-websocket"
	if err := os.WriteFile(s.config, []byte(s.configYAML(ports)), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "--config", s.config)
	s.cmd.Dir = dir
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("interop: starting parley: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	s.waitReady()
	if _, err := os.Stat(s.certFile); err != nil {
		t.Fatalf("interop: the server has no generated certificate at %s (data_dir/tls/cert.pem): %v", s.certFile, err)
	}
	return s
}

// configYAML is the test configuration. In-band registration is open on
// the test domain (the register scenario needs it); keep that setting here,
// the one place the tests configure it.
func (s *server) configYAML(ports []int) string {
	return fmt.Sprintf(`data_dir: %s
log:
  level: debug
hosts:
  - domain: %s
    registration: true
listeners:
  - {type: xmpp, address: "127.0.0.1:%d"}
  - {type: xmpps, address: "127.0.0.1:%d"}
  - {type: websocket, address: "127.0.0.1:%d", path: /xmpp-websocket}
admin:
  address: "127.0.0.1:%d"
# Every client connects from 127.0.0.1, and the SASL checks fail logins on
# purpose: keep the limiter out of the way of the scenarios.
limits:
  auth_per_ip: {rate: 1000, burst: 1000}
  auth_per_account: {rate: 1000, burst: 1000}
`, filepath.Join(s.dir, "data"), domain, ports[0], ports[1], ports[2], ports[3])
}

func (s *server) waitReady() {
	t := s.t
	t.Helper()
	url := "http://" + s.adminAddr + "/api/status"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			t.Fatalf("interop: parley exited before it was ready (%v); log:\n%s", s.waitErr, s.logTail())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("interop: GET %s not 200 within %v (last: %s); log:\n%s", url, readyTimeout, last, s.logTail())
}

// stop sends SIGTERM and requires a clean exit; on any failure of the test
// it also attaches the server's log.
func (s *server) stop() {
	t := s.t
	select {
	case <-s.exited:
		t.Errorf("interop: parley exited during the test (%v)", s.waitErr)
	default:
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("interop: SIGTERM: %v", err)
		}
		select {
		case <-s.exited:
			if s.waitErr != nil {
				t.Errorf("interop: parley did not exit cleanly after SIGTERM: %v", s.waitErr)
			}
		case <-time.After(stopTimeout):
			killGroup(s.cmd)
			<-s.exited
			t.Errorf("interop: parley did not exit within %v of SIGTERM; killed", stopTimeout)
		}
	}
	if t.Failed() {
		t.Logf("server log (%s), last %d KiB:\n%s", s.logPath, logTailBytes>>10, s.logTail())
	}
}

func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(b)
}

// addUser creates an account with the CLI while the server runs.
func (s *server) addUser(t *testing.T, local, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, "user", "add", local+"@"+domain, "--password", password, "--config", s.config)
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("interop: parley user add %s@%s: %v\n%s", local, domain, err, out)
	}
}

// account is a user the tests create and log in as.
type account struct {
	local, password string
}

func (a account) jid() string { return a.local + "@" + domain }

// arg is the LOCAL:PASSWORD form the client scripts take.
func (a account) arg() string { return a.local + ":" + a.password }

// Passwords: one ASCII with XML specials, one that needs UTF-8 and
// SASLprep/PRECIS to agree between client and server.
const (
	asciiPassword   = `s3cret<&>"'`
	unicodePassword = "pässwörd ✓"
)

// newAccounts creates a fresh pair for one scenario: the first with an
// ASCII password, the second with a non-ASCII one.
func (s *server) newAccounts(t *testing.T, prefix string) (account, account) {
	t.Helper()
	a := account{prefix + ".a", asciiPassword}
	b := account{prefix + ".b", unicodePassword}
	s.addUser(t, a.local, a.password)
	s.addUser(t, b.local, b.password)
	return a, b
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("interop: free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// clientRun is one client program invocation.
type clientRun struct {
	name  string   // for the log
	path  string   // executable
	args  []string // arguments
	env   []string // added to the test's environment
	stdin string
	dir   string
	// plain marks a program that prints no JSON summary (go-sendxmpp):
	// its exit status alone decides.
	plain bool
}

// summary is the JSON object every client script prints on stdout.
type summary struct {
	OK      bool            `json:"ok"`
	Error   string          `json:"error"`
	Details json.RawMessage `json:"details"`
}

// run executes a client under clientTimeout. It logs the client's output,
// and on failure its stderr (the XML trace) too, and fails the test unless
// the client exits 0 having printed {"ok": true, ...} (or, for a plain
// program, exits 0). It returns the stdout.
func (c clientRun) run(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, c.args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Dir = c.dir
	cmd.WaitDelay = 5 * time.Second
	if c.stdin != "" {
		cmd.Stdin = strings.NewReader(c.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	if msg := c.verdict(ctx, err, stdout.Bytes()); msg != "" {
		t.Errorf("%s (%v): %s", c.name, took, msg)
		t.Logf("%s stderr, last %d KiB:\n%s", c.name, logTailBytes>>10, tail(stderr.Bytes()))
	} else {
		t.Logf("%s (%v): %s", c.name, took, bytes.TrimSpace(stdout.Bytes()))
	}
	return stdout.Bytes()
}

// verdict says why a finished run failed, or "" if it passed.
func (c clientRun) verdict(ctx context.Context, err error, stdout []byte) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("killed after %v", clientTimeout)
	}
	if c.plain {
		if err != nil {
			return err.Error()
		}
		return ""
	}
	var sum summary
	jsonErr := json.Unmarshal(lastLine(bytes.TrimSpace(stdout)), &sum)
	switch {
	case err != nil && sum.Error != "":
		return sum.Error
	case err != nil:
		return err.Error()
	case jsonErr != nil:
		return fmt.Sprintf("exit 0 but no JSON summary on stdout: %v", jsonErr)
	case !sum.OK:
		return "exit 0 but the summary says not ok: " + sum.Error
	}
	return ""
}

func lastLine(b []byte) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func tail(b []byte) string {
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
