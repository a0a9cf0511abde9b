package dlog_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	dlog "github.com/dlog-project/dlog/clients/go"
	"github.com/dlog-project/dlog/clients/go/dlogtest"
	"google.golang.org/grpc/codes"
)

// readAll returns the log's payloads in order, as numbers.
func readAll(t *testing.T, ctx context.Context, client *dlog.Client, log string) []int {
	t.Helper()
	var got []int
	for rec, err := range client.Read(ctx, log, dlog.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(string(rec.Payload))
		if err != nil {
			t.Fatalf("payload %q", rec.Payload)
		}
		got = append(got, n)
	}
	return got
}

// expectOnceInOrder checks that the log holds 1..n except the skipped ones, each once, in order.
func expectOnceInOrder(t *testing.T, got []int, n int, skipped map[int]bool) {
	t.Helper()
	want := 1
	for i, v := range got {
		for skipped[want] {
			want++
		}
		if v != want {
			t.Fatalf("record %d of the log is #%d, want #%d (the log: %d records)", i, v, want, len(got))
		}
		want++
	}
	for skipped[want] {
		want++
	}
	if want != n+1 {
		t.Fatalf("the log ends at #%d, want #%d", want-1, n)
	}
}

func TestAppenderRenumbersTheAppendsAfterARefusedOne(t *testing.T) {
	srv := dlogtest.Start(t)
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := client.NewAppender("refused", dlog.WithLinger(0), dlog.WithMaxInFlight(64))
	defer a.Close(ctx)
	const n, refused = 300, 100
	pending := make([]dlog.Pending, n+1)
	for i := 1; i <= n; i++ {
		in := dlog.Input{Payload: []byte(strconv.Itoa(i))}
		if i == refused {
			in.TxID = 1 // below the log's last txid: refused, while the appends after it are in flight
		}
		p, err := a.AppendAsync(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pending[i] = p
	}
	var previous dlog.DLSN
	for i := 1; i <= n; i++ {
		d, err := pending[i].Wait(ctx)
		if i == refused {
			if !errors.Is(err, dlog.ErrTxIDOutOfOrder) {
				t.Fatalf("append #%d: %v, want TXID_OUT_OF_ORDER", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("append #%d after the refused one: %v", i, err)
		}
		if !previous.Less(d) {
			t.Fatalf("DLSN of #%d = %v does not follow %v", i, d, previous)
		}
		previous = d
	}
	expectOnceInOrder(t, readAll(t, ctx, client, "refused"), n, map[int]bool{refused: true})
}

func TestAppenderResendsAcrossAKill9WithoutLossOrDuplicates(t *testing.T) {
	srv := dlogtest.Start(t, dlogtest.WithDataDir())
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := client.NewAppender("resent", dlog.WithLinger(time.Millisecond), dlog.WithMaxBatchRecords(20),
		dlog.WithRetry(dlog.ReconnectPolicy{MaxDelay: 300 * time.Millisecond}))
	defer a.Close(ctx)
	const n = 4000
	pending := make([]dlog.Pending, n+1)
	killed := false
	for i := 1; i <= n; i++ {
		p, err := a.AppendAsync(ctx, dlog.Input{Payload: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		pending[i] = p
		if i == n/4 && !killed {
			if _, err := pending[i/2].Wait(ctx); err != nil { // appends are flowing
				t.Fatal(err)
			}
			killed = true
			if err := srv.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 1; i <= n; i++ {
		if _, err := pending[i].Wait(ctx); err != nil {
			t.Fatalf("append #%d across the kill: %v", i, err)
		}
	}
	expectOnceInOrder(t, readAll(t, ctx, client, "resent"), n, nil)
	t.Logf("producer %s: %d appends across a kill -9, none lost or doubled", a.ProducerID(), n)
}

func TestAppenderWhoseClientIsClosedFailsInsteadOfReconnecting(t *testing.T) {
	srv := dlogtest.Start(t)
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := client.NewAppender("orphaned", dlog.WithLinger(0),
		dlog.WithRetry(dlog.ReconnectPolicy{InitialDelay: time.Second, MaxDelay: time.Second}))
	if _, err := a.Append(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	p, err := a.AppendAsync(ctx, dlog.Input{Payload: []byte("second")})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the break, noticed or not yet: either way it must not be retried
	_ = client.Close()
	// The default budget would go on reconnecting for 60 s: the append must fail long before.
	wait, cancelWait := context.WithTimeout(ctx, 5*time.Second)
	defer cancelWait()
	_, err = p.Wait(wait)
	var e *dlog.Error
	if !errors.As(err, &e) || e.Code != codes.Canceled {
		t.Fatalf("after Client.Close, the append ended with %v; want CANCELLED", err)
	}
}
