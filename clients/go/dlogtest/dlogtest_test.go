package dlogtest_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	dlog "github.com/dlog-project/dlog/clients/go"
	"github.com/dlog-project/dlog/clients/go/dlogtest"
)

func TestLaunchServesOnLoopbackAndCloseRemovesItsData(t *testing.T) {
	srv, err := dlogtest.Launch(dlogtest.WithDataDir())
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(srv.Addr)
	if host != "127.0.0.1" {
		t.Errorf("listening on %s, want loopback", srv.Addr)
	}
	client, err := dlog.New(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Health(ctx); err != nil {
		t.Fatalf("health check: %v", err)
	}
	if _, err := client.Append(ctx, "kept", dlog.Input{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	info, err := client.GetLog(ctx, "kept")
	if err != nil || info.RecordCount != 1 {
		t.Fatalf("after kill -9 and restart: %+v, %v; want the appended record", info, err)
	}
	if !strings.Contains(srv.Output(), "dlogd listening") {
		t.Errorf("output lacks the listening line:\n%s", srv.Output())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(srv.DataDir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s still there after Close (%v)", srv.DataDir, err)
	}
}

func TestStartFailsClearlyWithoutDlogd(t *testing.T) {
	t.Setenv("DLOG_DLOGD", "/nonexistent/dlogd")
	if _, err := dlogtest.Launch(); err == nil || !strings.Contains(err.Error(), "/nonexistent/dlogd") {
		t.Fatalf("Launch with a missing dlogd: %v", err)
	}
}

func TestStartRunsInMemoryWhenTheServerCan(t *testing.T) {
	srv := dlogtest.Start(t)
	if srv.DataDir != "" {
		t.Fatalf("dlogd has --in-memory, yet the test server runs on %s", srv.DataDir)
	}
	if !strings.Contains(srv.Output(), "dlogd listening") {
		t.Fatalf("no listening line:\n%s", srv.Output())
	}
}
