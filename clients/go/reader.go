package dlog

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// Reader is a high-level, at-least-once reader: Next hands out records, Ack
// marks them processed; the reader coalesces acks into few messages,
// reconnects with backoff, resumes from the server's durable position and
// drains on Close. Next is for one goroutine; Ack, Nack, SetFlow, Status and
// Close are safe from any.
type Reader struct {
	client  *Client
	cfg     ReaderConfig
	backoff *backoff

	ctx    context.Context // the streams' lifetime: cancelled by Abort or a Close that ran out of time
	cancel context.CancelFunc

	batches   chan *batch
	stopCh    chan struct{} // closed by Close or Abort: no more records, no more reconnects
	failedCh  chan struct{} // closed when the reader failed for good (failErr)
	firstOpen chan struct{}
	finished  chan struct{} // the session loop returned

	mu        sync.Mutex
	cur       *session
	stopping  bool
	aborted   bool
	flow      FlowLimits
	sessions  int
	opened    Opened
	status    Status
	hasStatus bool
	durable   DLSN
	failErr   error
	closeErr  error
	openOnce  sync.Once

	// Next's own state (one goroutine).
	batch        *batch
	idx          int
	lastSess     *session
	lastSessHigh DLSN
	earlierHigh  DLSN // highest DLSN handed out by sessions that ended
}

type batch struct {
	sess    *session
	records []Record
}

// OpenReader opens an at-least-once reader and waits until its first session
// is open (ctx bounds only that wait; the reader lives until Close). It fails
// at once on a refusal (ErrLogNotFound, ErrReaderLive, ...); UNAVAILABLE is
// retried per cfg.Reconnect.
func (c *Client) OpenReader(ctx context.Context, cfg ReaderConfig) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Reader{
		client:    c,
		cfg:       cfg,
		backoff:   newBackoff(cfg.Reconnect),
		batches:   make(chan *batch, 1024),
		stopCh:    make(chan struct{}),
		failedCh:  make(chan struct{}),
		firstOpen: make(chan struct{}),
		finished:  make(chan struct{}),
		flow:      cfg.Flow,
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	select {
	case <-r.firstOpen:
		return r, nil
	case <-r.failedCh:
		<-r.finished
		r.cancel()
		return nil, r.failErr
	case <-ctx.Done():
		r.Abort()
		return nil, ctx.Err()
	}
}

// Next returns the next record, waiting for one as long as ctx allows. It
// returns ErrClosed after Close, ctx's error when ctx ends, and the reader's
// failure (e.g. ErrReaderFenced) when it cannot go on. Records of a session
// that was lost are skipped: they come again on the next one.
func (r *Reader) Next(ctx context.Context) (*Record, error) {
	for {
		select {
		case <-r.stopCh:
			return nil, ErrClosed
		case <-r.failedCh:
			return nil, r.failErr
		default:
		}
		if b := r.batch; b != nil {
			for r.idx < len(b.records) {
				rec := &b.records[r.idx]
				r.idx++
				if b.sess.alive.Load() {
					r.handOut(rec)
					return rec, nil
				}
			}
			r.batch = nil
		}
		select {
		case r.batch = <-r.batches:
			r.idx = 0
			continue
		default:
		}
		// About to wait: the server may be waiting for our acks (flow limits), send them now.
		if s := r.current(); s != nil {
			s.flushSoon(true)
		}
		select {
		case r.batch = <-r.batches:
			r.idx = 0
		case <-r.stopCh:
			return nil, ErrClosed
		case <-r.failedCh:
			return nil, r.failErr
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Records ranges over Next until ctx ends, the reader is closed or fails;
// a failure (not ErrClosed) is yielded once as the last element.
//
//	for rec, err := range reader.Records(ctx) { ... }
func (r *Reader) Records(ctx context.Context) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for {
			rec, err := r.Next(ctx)
			if errors.Is(err, ErrClosed) {
				return
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// handOut marks records this reader handed out on an earlier session as redelivered.
func (r *Reader) handOut(rec *Record) {
	if rec.sess != r.lastSess {
		if r.lastSess != nil && r.lastSessHigh.Compare(r.earlierHigh) > 0 {
			r.earlierHigh = r.lastSessHigh
		}
		r.lastSess, r.lastSessHigh = rec.sess, DLSN{}
	}
	if !r.earlierHigh.IsZero() && rec.DLSN.Compare(r.earlierHigh) <= 0 {
		rec.Redelivered = true
	}
	if rec.DLSN.Compare(r.lastSessHigh) > 0 {
		r.lastSessHigh = rec.DLSN
	}
}

// Ack marks records processed. Acks are coalesced; an ack of a record whose
// session is gone is dropped (the record comes again).
func (r *Reader) Ack(records ...*Record) {
	for _, rec := range records {
		rec.Ack()
	}
}

// Nack asks for records again (attempt + 1), at once, in this session.
func (r *Reader) Nack(records ...*Record) {
	for _, rec := range records {
		rec.Nack()
	}
}

// SetFlow changes the flow limits of the live session and of the sessions
// after a reconnect; zero fields keep their value.
func (r *Reader) SetFlow(f FlowLimits) {
	r.mu.Lock()
	r.flow = r.flow.merge(f)
	s := r.cur
	r.mu.Unlock()
	if s != nil {
		s.control(&dlogv1.SessionRequest{Kind: &dlogv1.SessionRequest_Flow{Flow: f.wire()}}, false)
	}
}

// Opened is what the server said when the current (or last) session opened.
func (r *Reader) Opened() Opened {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opened
}

// Status is the last status frame; false before the first one.
func (r *Reader) Status() (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.hasStatus
}

// DurablePosition is the durable floor the server last reported (status
// frames, the drain): a server crash would replay everything after it.
// Zero before the first report.
func (r *Reader) DurablePosition() DLSN {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.durable
}

// Close ends the reader: it stops delivery, sends the acks made so far,
// drains the session and returns the final durable position. Records
// received but not handed out are not acked and come again next time. When
// ctx ends first, the session is cut and the error says so (acks since the
// last status may be replayed). Close returns the reader's failure if it had
// failed. Safe to call more than once.
func (r *Reader) Close(ctx context.Context) (DLSN, error) {
	r.stop(false)
	select {
	case <-r.finished:
	case <-ctx.Done():
		r.cancel()
		<-r.finished
		return r.DurablePosition(), fmt.Errorf("dlog: reader %s/%s: no drained answer before the context ended; acks since the last status may be replayed: %w",
			r.cfg.Log, r.cfg.ReaderID, ctx.Err())
	}
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failErr != nil {
		return r.durable, r.failErr
	}
	return r.durable, r.closeErr
}

// Abort ends the reader at once without draining, as a crash would: what was
// acked but not yet durable comes again on the next session of this reader.
func (r *Reader) Abort() {
	r.stop(true)
	r.cancel()
	<-r.finished
}

func (r *Reader) stop(abort bool) {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return
	}
	r.stopping, r.aborted = true, abort
	s := r.cur
	r.mu.Unlock()
	close(r.stopCh)
	if s != nil && !abort {
		s.drain()
	}
}

func (r *Reader) current() *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}
