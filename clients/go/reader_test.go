package dlog

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// fakeReaders is an in-process ReaderService: each session sends opened and
// `records` records in batches of 100, counts the Ack messages it gets, and
// answers a drain; endWith, when set, ends the first `fail` sessions with it.
type fakeReaders struct {
	dlogv1.UnimplementedReaderServiceServer
	records  int
	fail     int32
	endWith  error
	sessions atomic.Int32
	acks     atomic.Int32
	acked    atomic.Int64 // the highest up_to entry seen
}

func (f *fakeReaders) Session(stream dlogv1.ReaderService_SessionServer) error {
	n := f.sessions.Add(1)
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&dlogv1.SessionResponse{Kind: &dlogv1.SessionResponse_Opened{Opened: &dlogv1.Opened{
		Epoch: uint64(n), ResumeAfter: NonInclusiveLowerBound.wire(), Flow: &dlogv1.FlowLimits{MaxOutstandingRecords: 100000},
	}}}); err != nil {
		return err
	}
	if f.endWith != nil && n <= f.fail {
		return f.endWith
	}
	for start := 0; start < f.records; start += 100 {
		batch := &dlogv1.RecordBatch{}
		for i := start; i < start+100 && i < f.records; i++ {
			batch.Records = append(batch.Records, &dlogv1.Record{Dlsn: DLSN{1, int64(i), 0}.wire(), Payload: []byte("x"), Attempt: 1})
		}
		if err := stream.Send(&dlogv1.SessionResponse{Kind: &dlogv1.SessionResponse_Records{Records: batch}}); err != nil {
			return err
		}
	}
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		switch kind := req.Kind.(type) {
		case *dlogv1.SessionRequest_Ack:
			f.acks.Add(1)
			if up := kind.Ack.UpTo; up != nil {
				f.acked.Store(up.Entry)
			}
		case *dlogv1.SessionRequest_Drain:
			return stream.Send(&dlogv1.SessionResponse{Kind: &dlogv1.SessionResponse_Drained{Drained: &dlogv1.Drained{
				DurableFloor: DLSN{1, f.acked.Load(), 0}.wire(), AcksDurable: uint64(f.acks.Load()),
			}}})
		}
	}
}

func serveFake(t *testing.T, f *fakeReaders) *Client {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	dlogv1.RegisterReaderServiceServer(server, f)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	client, err := New(listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func TestReaderCoalescesAcksIntoFewMessages(t *testing.T) {
	f := &fakeReaders{records: 20000}
	client := serveFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := client.OpenReader(ctx, ReaderConfig{Log: "l", ReaderID: "r", AckInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < f.records; i++ {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r.Ack(rec)
	}
	final, err := r.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (DLSN{1, int64(f.records - 1), 0}); final != want {
		t.Fatalf("drained at %v, want %v", final, want)
	}
	if n := f.acks.Load(); n > int32(f.records/100) {
		t.Fatalf("%d records acked one by one went out as %d Ack messages; want them coalesced", f.records, n)
	}
	t.Logf("%d acks in %d messages", f.records, f.acks.Load())
}

func TestReaderReconnectsOnUnavailableButNotWhenFenced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lost := &fakeReaders{records: 10, fail: 2, endWith: status.Error(codes.Unavailable, "going away")}
	r, err := serveFake(t, lost).OpenReader(ctx, ReaderConfig{Log: "l", ReaderID: "r", Reconnect: ReconnectPolicy{InitialDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); err != nil {
		t.Fatalf("after two lost sessions: %v", err)
	}
	if n := lost.sessions.Load(); n != 3 {
		t.Fatalf("%d sessions, want 3 (two lost, one serving)", n)
	}
	r.Abort()

	fenced := &fakeReaders{records: 10, fail: 1, endWith: status.Error(codes.Aborted, "fenced")}
	r, err = serveFake(t, fenced).OpenReader(ctx, ReaderConfig{Log: "l", ReaderID: "r", Reconnect: ReconnectPolicy{InitialDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); status.Code(err) != codes.Aborted {
		t.Fatalf("Next after the fence: %v, want ABORTED", err)
	}
	if _, err := r.Close(ctx); status.Code(err) != codes.Aborted {
		t.Fatalf("Close after the fence: %v, want the fence", err)
	}
	if n := fenced.sessions.Load(); n != 1 {
		t.Fatalf("a fenced reader opened %d sessions, want 1", n)
	}
	if _, err := r.Next(ctx); !errors.Is(err, ErrClosed) && status.Code(err) != codes.Aborted {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestAReaderWhoseClientIsClosedEndsInsteadOfReconnecting(t *testing.T) {
	f := &fakeReaders{records: 10}
	client := serveFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := client.OpenReader(ctx, ReaderConfig{Log: "l", ReaderID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	_ = client.Close()
	// The default policy would go on reconnecting for 60 s (what a closing connection answers
	// looks like a reset): the reader must end long before.
	wait, cancelWait := context.WithTimeout(ctx, 5*time.Second)
	defer cancelWait()
	for i := 0; ; i++ {
		_, err := r.Next(wait)
		if err == nil && i < f.records {
			continue // records already buffered
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != codes.Canceled || !strings.Contains(e.Message, "Client was closed") {
			t.Fatalf("after Client.Close, Next returned %v; want the CANCELLED client-closed error", err)
		}
		break
	}
}
