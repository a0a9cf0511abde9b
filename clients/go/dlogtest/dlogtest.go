// Package dlogtest starts a real, throw-away dlogd for a test and removes it
// afterwards, so that programs using dlog can be tested against the real thing.
//
//	func TestOrders(t *testing.T) {
//		srv := dlogtest.Start(t)
//		client := srv.Client(t)
//		...
//	}
//
// dlogd is found through the DLOG_DLOGD environment variable (a path; one
// ending in .js is run with node) or else as "dlogd" on the PATH.
package dlogtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dlog "github.com/dlog-project/dlog/clients/go"
)

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is a dlogd started by Start or Launch.
type Server struct {
	// Addr is the bound "host:port" (loopback).
	Addr string
	// DataDir is the server's data directory; empty when it runs --in-memory.
	DataDir string

	command []string
	args    []string
	ownDir  bool
	cmd     *exec.Cmd
	exited  chan struct{}
	out     *output
}

type config struct {
	dataDir bool
	args    []string
}

// Option configures Start and Launch.
type Option func(*config)

// WithDataDir keeps the server's data on disk in a temp dir (removed at the
// end) instead of --in-memory, e.g. to Restart it or Kill it and see what
// survived.
func WithDataDir() Option { return func(c *config) { c.dataDir = true } }

// WithArgs passes extra flags to dlogd (e.g. "--ack-flush-interval", "50ms").
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Start starts dlogd on a free loopback port and waits until it serves.
// With a server that supports it, nothing is written to disk (--in-memory,
// not durable) unless WithDataDir is given. t.Cleanup stops the server
// (SIGTERM, then SIGKILL after 10 s) and removes its data.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Launch(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Launch is Start outside a test (benchmarks, tools): the caller must Close
// the server.
func Launch(opts ...Option) (*Server, error) {
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	command, err := Command()
	if err != nil {
		return nil, err
	}
	s := &Server{command: command, out: &output{}}
	if !cfg.dataDir && supportsInMemory(command) {
		s.args = append(s.args, "--in-memory")
	} else {
		dir, err := os.MkdirTemp("", "dlogtest-")
		if err != nil {
			return nil, fmt.Errorf("dlogtest: %w", err)
		}
		s.DataDir, s.ownDir = dir, true
		s.args = append(s.args, "--data-dir", dir)
	}
	s.args = append(s.args, cfg.args...)
	if err := s.start("127.0.0.1:0"); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Command is how dlogd is run: $DLOG_DLOGD (with node when it ends in .js)
// or dlogd on the PATH.
func Command() ([]string, error) {
	if path := os.Getenv("DLOG_DLOGD"); path != "" {
		if strings.HasSuffix(path, ".js") {
			node, err := exec.LookPath("node")
			if err != nil {
				return nil, fmt.Errorf("dlogtest: DLOG_DLOGD=%s needs node on the PATH: %w", path, err)
			}
			return []string{node, path}, nil
		}
		return []string{path}, nil
	}
	path, err := exec.LookPath("dlogd")
	if err != nil {
		return nil, errors.New("dlogtest: no dlogd: set DLOG_DLOGD to its path or put dlogd on the PATH")
	}
	return []string{path}, nil
}

var (
	inMemory     sync.Map // command line → bool
	inMemoryFlag = regexp.MustCompile(`--(\[no-\])?in-memory\b`)
)

// supportsInMemory asks `dlogd --help` once per binary.
func supportsInMemory(command []string) bool {
	key := strings.Join(command, "\x00")
	if v, ok := inMemory.Load(key); ok {
		return v.(bool)
	}
	help, _ := exec.Command(command[0], append(command[1:], "--help")...).CombinedOutput()
	ok := inMemoryFlag.Match(help)
	inMemory.Store(key, ok)
	return ok
}

// Client connects to the server; the client is closed at the end of the test.
func (s *Server) Client(t testing.TB, opts ...dlog.Option) *dlog.Client {
	t.Helper()
	c, err := dlog.New(s.Addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Output is what the server wrote to stderr and stdout so far (the last 256 KiB).
func (s *Server) Output() string { return s.out.String() }

// Pid is the server process's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop stops the server gracefully (SIGTERM; SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL (kill -9: it flushes nothing) and waits for it.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

// Restart starts the server again after Stop or Kill (stopping it first if
// it runs), on the same port and data dir.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start(s.Addr)
}

// Close stops the server and removes the data dir it made.
func (s *Server) Close() error {
	err := s.Stop()
	if s.ownDir {
		if rmErr := os.RemoveAll(s.DataDir); err == nil {
			err = rmErr
		}
	}
	return err
}

func (s *Server) signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("dlogtest: dlogd did not stop within %s of %s; killed", stopTimeout, sig)
	}
	return nil
}

func (s *Server) start(listen string) error {
	args := append(append(append([]string{}, s.command[1:]...), "--listen", listen), s.args...)
	cmd := exec.Command(s.command[0], args...)
	cmd.Stdout = s.out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("dlogtest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dlogtest: starting %s: %w", strings.Join(s.command, " "), err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	listening := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		scan(stderr, s.out, listening)
		close(scanned)
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it to the end first
		_ = cmd.Wait()
		close(s.exited)
	}()
	select {
	case addr := <-listening:
		s.Addr = addr
		return nil
	case <-s.exited:
		return fmt.Errorf("dlogtest: dlogd exited before listening:\n%s", s.out)
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("dlogtest: dlogd did not listen within %s:\n%s", startTimeout, s.out)
	}
}

// scan copies stderr into the output and reports the address of the "dlogd listening" line.
func scan(stderr io.Reader, out *output, listening chan<- string) {
	lines := bufio.NewScanner(stderr)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for lines.Scan() {
		line := lines.Bytes()
		_, _ = out.Write(append(line, '\n'))
		if found || !bytes.Contains(line, []byte(`"dlogd listening"`)) {
			continue
		}
		var fields struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal(line, &fields) == nil && fields.Msg == "dlogd listening" {
			if _, _, err := net.SplitHostPort(fields.Address); err == nil {
				found = true
				listening <- fields.Address
			}
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
}

// output keeps the last 256 KiB the server wrote.
type output struct {
	mu  sync.Mutex
	buf []byte
}

const outputKeep = 256 << 10

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if len(o.buf) > outputKeep {
		o.buf = append(o.buf[:0], o.buf[len(o.buf)-outputKeep:]...)
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}
