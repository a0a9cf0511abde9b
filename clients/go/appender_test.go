package dlog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dlog "github.com/dlog-project/dlog/clients/go"
	"github.com/dlog-project/dlog/clients/go/dlogtest"
)

func appendMany(t *testing.T, ctx context.Context, a *dlog.Appender, n int) []dlog.DLSN {
	t.Helper()
	pending := make([]dlog.Pending, n)
	for i := range pending {
		p, err := a.AppendAsync(ctx, dlog.Input{Payload: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		pending[i] = p
	}
	dlsns := make([]dlog.DLSN, n)
	for i, p := range pending {
		d, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i > 0 && !dlsns[i-1].Less(d) {
			t.Fatalf("DLSN %d = %v does not follow %v", i, d, dlsns[i-1])
		}
		dlsns[i] = d
	}
	return dlsns
}

func entries(dlsns []dlog.DLSN) (count, largest int) {
	sizes := map[[2]int64]int{}
	for _, d := range dlsns {
		sizes[[2]int64{d.Segment, d.Entry}]++
	}
	for _, n := range sizes {
		largest = max(largest, n)
	}
	return len(sizes), largest
}

func TestAppenderPacksOneRecordAppendsIntoEntries(t *testing.T) {
	// One entry per request, so entries show how the appender batched (the server packs appends
	// committed together otherwise).
	srv := dlogtest.Start(t, dlogtest.WithArgs("--no-pack-appends"))
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	lingering := client.NewAppender("packed", dlog.WithLinger(50*time.Millisecond), dlog.WithMaxBatchRecords(40))
	defer lingering.Close(ctx)
	dlsns := appendMany(t, ctx, lingering, 200)
	if count, largest := entries(dlsns); count > 10 || largest != 40 {
		t.Fatalf("200 one-record appends went as %d entries (largest %d); want entries of up to 40 records", count, largest)
	}
	for i, d := range dlsns[1:40] {
		if d.Entry != dlsns[0].Entry || d.Slot != int64(i+1) {
			t.Fatalf("records of one entry are not in consecutive slots: %v after %v", d, dlsns[i])
		}
	}

	alone := client.NewAppender("alone", dlog.WithLinger(0))
	defer alone.Close(ctx)
	if count, _ := entries(appendMany(t, ctx, alone, 50)); count != 50 {
		t.Fatalf("with no linger 50 appends went as %d entries, want 50", count)
	}
}

func TestAppenderDeliversAFailedEntrysErrorToEveryCaller(t *testing.T) {
	srv := dlogtest.Start(t)
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := client.NewAppender("txids", dlog.WithLinger(50*time.Millisecond))
	defer a.Close(ctx)
	if _, err := a.AppendEntry(ctx, dlog.Input{Payload: []byte("high"), TxID: 1000}); err != nil {
		t.Fatal(err)
	}
	var pending []dlog.Pending
	for i := range 5 {
		p, err := a.AppendAsync(ctx, dlog.Input{Payload: []byte(fmt.Sprint(i)), TxID: 5}) // lower than the log's last
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	for i, p := range pending {
		_, err := p.Wait(ctx)
		var e *dlog.Error
		if !errors.As(err, &e) || status.Code(err) != codes.FailedPrecondition || !errors.Is(err, dlog.ErrTxIDOutOfOrder) {
			t.Fatalf("caller %d of the failed entry got %v, want FAILED_PRECONDITION (TXID_OUT_OF_ORDER)", i, err)
		}
	}
	if _, err := a.Append(ctx, []byte("after")); err != nil {
		t.Fatalf("an append after a failed one: %v", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, []byte("closed")); !errors.Is(err, dlog.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
}

func TestUnaryAppendWritesOneEntry(t *testing.T) {
	srv := dlogtest.Start(t)
	client := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dlsns, err := client.Append(ctx, "unary", dlog.Input{Payload: []byte("a")}, dlog.Input{Payload: []byte("b")}, dlog.Input{Payload: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dlsns {
		if d.Entry != dlsns[0].Entry || d.Slot != int64(i) {
			t.Fatalf("DLSNs %v are not slots 0..2 of one entry", dlsns)
		}
	}
	var got []string
	for rec, err := range client.Read(ctx, "unary", dlog.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(rec.Payload))
	}
	if fmt.Sprint(got) != "[a b c]" {
		t.Fatalf("read back %v", got)
	}
	if _, err := client.GetLog(ctx, "no-such-log"); !errors.Is(err, dlog.ErrLogNotFound) {
		t.Fatalf("GetLog of a missing log: %v", err)
	}
}
