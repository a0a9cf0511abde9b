package dlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// recordOverhead is what a record costs the in-flight budget beyond its
// payload, so that empty payloads are bounded too.
const recordOverhead = 32

// Appender is a pipelined producer on one AppendStream: many appends in
// flight, answered in order. One-record appends made within the linger time
// travel together as one entry (consecutive slots); each caller still gets
// its own record's DLSN, DLSNs increase in call order, and when an entry
// fails every caller of it gets the error. Appends are idempotent (producer
// id + sequence number): after a broken stream the unanswered ones are sent
// again and the server answers those it had written with their original
// DLSNs (see WithRetry). Safe for concurrent use.
//
// A payload is sent as given: do not modify it until its append is answered.
type Appender struct {
	client *Client
	log    string
	cfg    appenderConfig
	budget budget

	ctx    context.Context // the streams' lifetime
	cancel context.CancelFunc

	mu       sync.Mutex
	open     *appendBatch   // lingering, not yet sealed
	sealed   uint64         // batches sealed so far: their call order
	queue    []*appendBatch // sealed, never sent
	resend   []*appendBatch // to send again (after a break, or renumbered), in call order, before the queue
	last     *appendBatch   // the last sealed batch: Flush waits for it
	inFlight int
	// An append was refused (it does not use up its seq): the ones sent after
	// it come back PRODUCER_SEQUENCE_GAP and go again, renumbered from
	// rewindSeq once none is in flight.
	rewinding bool
	rewindSeq uint64
	lost      error // the stream broke: back off, then reconnect before the next send
	backoff   *backoff
	closed    bool
	quitting  bool
	wake      chan struct{}
	finished  chan struct{}

	// The sender goroutine's own.
	nextID  uint64
	nextSeq uint64
	stream  *appendStream
}

type appendBatch struct {
	req        *dlogv1.AppendRequest
	order      uint64 // call order
	seq        uint64 // producer seq; 0 = not given yet (or to renumber)
	renumbered int
	bytes      int
	cost       int64
	timer      *time.Timer
	done       chan struct{}
	dlsns      []DLSN
	err        error
}

// Pending is an append on its way; Wait gives its DLSN.
type Pending struct {
	b *appendBatch
	i int
}

// Done is closed when the append is answered.
func (p Pending) Done() <-chan struct{} { return p.b.done }

// Wait returns the record's DLSN once its entry is written, or the entry's
// error. When ctx ends first the outcome is unknown (it may be written).
func (p Pending) Wait(ctx context.Context) (DLSN, error) {
	select {
	case <-p.b.done:
	case <-ctx.Done():
		return DLSN{}, ctx.Err()
	}
	if p.b.err != nil {
		return DLSN{}, p.b.err
	}
	return p.b.dlsns[p.i], nil
}

// NewAppender returns a pipelined producer for log.
func (c *Client) NewAppender(log string, opts ...AppenderOption) *Appender {
	cfg := appenderConfig{
		linger: 2 * time.Millisecond, maxBatchRecords: 1000, maxBatchBytes: 1 << 20,
		maxInFlightBytes: 8 << 20, maxInFlight: 1024,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.retry.Disabled {
		cfg.producerID = ""
	} else if cfg.producerID == "" {
		cfg.producerID = fmt.Sprintf("go-%016x", rand.Uint64())
	}
	a := &Appender{
		client: c, log: log, cfg: cfg,
		budget:   budget{max: cfg.maxInFlightBytes},
		backoff:  newBackoff(cfg.retry),
		wake:     make(chan struct{}, 1),
		finished: make(chan struct{}),
		nextSeq:  1,
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	go a.sendLoop()
	return a
}

// Append appends one record and returns its DLSN once written. Records
// appended within the linger time share an entry.
func (a *Appender) Append(ctx context.Context, payload []byte) (DLSN, error) {
	p, err := a.AppendAsync(ctx, Input{Payload: payload})
	if err != nil {
		return DLSN{}, err
	}
	return p.Wait(ctx)
}

// AppendAsync queues one record and returns at once (after waiting, as long
// as ctx allows, for room under the in-flight bounds): call it in a loop and
// Wait on the results later.
func (a *Appender) AppendAsync(ctx context.Context, in Input) (Pending, error) {
	cost := int64(len(in.Payload) + recordOverhead)
	if err := a.budget.acquire(ctx, cost); err != nil {
		return Pending{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		a.budget.release(cost)
		return Pending{}, ErrClosed
	}
	b := a.open
	if b == nil {
		b = a.newBatch()
		a.open = b
		if a.cfg.linger > 0 {
			b.timer = time.AfterFunc(a.cfg.linger, func() { a.lingered(b) })
		}
	}
	i := len(b.req.Records)
	b.req.Records = append(b.req.Records, in.wire())
	b.bytes += len(in.Payload)
	b.cost += cost
	if a.cfg.linger == 0 || len(b.req.Records) >= a.cfg.maxBatchRecords || b.bytes >= a.cfg.maxBatchBytes {
		a.seal(b)
	}
	return Pending{b: b, i: i}, nil
}

// AppendEntry appends the records to one entry, in consecutive slots (not
// batched with other calls), in order with the other appends, and returns
// their DLSNs.
func (a *Appender) AppendEntry(ctx context.Context, records ...Input) ([]DLSN, error) {
	if len(records) == 0 {
		return nil, errors.New("dlog: AppendEntry needs at least one record")
	}
	var cost int64
	for _, in := range records {
		cost += int64(len(in.Payload) + recordOverhead)
	}
	if err := a.budget.acquire(ctx, cost); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.budget.release(cost)
		return nil, ErrClosed
	}
	if a.open != nil {
		a.seal(a.open)
	}
	b := a.newBatch()
	b.req.Records = wireInputs(records)
	b.cost = cost
	a.seal(b)
	a.mu.Unlock()
	select {
	case <-b.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.dlsns, b.err
}

// Flush sends what lingers and waits until every append made so far is answered.
func (a *Appender) Flush(ctx context.Context) error {
	a.mu.Lock()
	if a.open != nil {
		a.seal(a.open)
	}
	last := a.last
	a.mu.Unlock()
	if last == nil {
		return nil
	}
	select {
	case <-last.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes, then ends the stream. Appends after Close fail with ErrClosed.
func (a *Appender) Close(ctx context.Context) error {
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	err := a.Flush(ctx)
	if !already {
		a.mu.Lock()
		a.quitting = true
		a.mu.Unlock()
		signal(a.wake)
	}
	select {
	case <-a.finished:
	case <-ctx.Done():
		err = ctx.Err()
		a.cancel()
		<-a.finished
	}
	a.cancel()
	return err
}

// ProducerID is the producer id of the idempotent appends; empty when retries are off.
func (a *Appender) ProducerID() string { return a.cfg.producerID }

func (a *Appender) newBatch() *appendBatch {
	return &appendBatch{req: &dlogv1.AppendRequest{Log: a.log}, done: make(chan struct{})}
}

func (a *Appender) lingered(b *appendBatch) {
	a.mu.Lock()
	if a.open == b {
		a.seal(b)
	}
	a.mu.Unlock()
}

// seal queues b for sending; called with mu held.
func (a *Appender) seal(b *appendBatch) {
	if b.timer != nil {
		b.timer.Stop()
	}
	if a.open == b {
		a.open = nil
	}
	b.order = a.sealed
	a.sealed++
	a.queue = append(a.queue, b)
	a.last = b
	signal(a.wake)
}
