package dlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// recordOverhead is what a record costs the in-flight budget beyond its
// payload, so that empty payloads are bounded too.
const recordOverhead = 32

// AppenderOption configures NewAppender.
type AppenderOption func(*appenderConfig)

type appenderConfig struct {
	linger           time.Duration
	maxBatchRecords  int
	maxBatchBytes    int
	maxInFlightBytes int64
	maxInFlight      int
}

// WithLinger sets how long a one-record Append waits for others to share its
// entry (default 2 ms). 0 disables batching: each Append is its own entry.
func WithLinger(d time.Duration) AppenderOption {
	return func(c *appenderConfig) { c.linger = max(d, 0) }
}

// WithMaxBatchRecords caps the records that share one entry (default 1000;
// at most the server's --max-records-per-append).
func WithMaxBatchRecords(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxBatchRecords = max(n, 1) }
}

// WithMaxBatchBytes caps the payload bytes that share one entry (default 1 MiB).
func WithMaxBatchBytes(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxBatchBytes = max(n, 1) }
}

// WithMaxInFlightBytes bounds the payload bytes appended and not yet answered
// (default 8 MiB); past it, appends wait. A larger record still goes alone.
func WithMaxInFlightBytes(n int64) AppenderOption {
	return func(c *appenderConfig) { c.maxInFlightBytes = max(n, 1) }
}

// WithMaxInFlight bounds the append requests sent and not yet answered (default 1024).
func WithMaxInFlight(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxInFlight = max(n, 1) }
}

// Appender is a pipelined producer on one AppendStream: many appends in
// flight, answered in order. One-record appends made within the linger time
// travel together as one entry (consecutive slots); each caller still gets
// its own record's DLSN, DLSNs increase in call order, and when an entry
// fails every caller of it gets the error. Safe for concurrent use.
//
// A payload is sent as given: do not modify it until its append is answered.
type Appender struct {
	client *Client
	log    string
	cfg    appenderConfig
	budget budget
	slots  chan struct{} // one per request in flight

	ctx    context.Context // the streams' lifetime
	cancel context.CancelFunc

	mu       sync.Mutex
	open     *appendBatch // lingering, not yet sealed
	queue    []*appendBatch
	last     *appendBatch // the last sealed batch: Flush waits for it
	closed   bool
	wake     chan struct{}
	quit     chan struct{}
	finished chan struct{}

	nextID uint64        // sender goroutine only
	stream *appendStream // sender goroutine only
}

type appendBatch struct {
	req   *dlogv1.AppendRequest
	bytes int
	cost  int64
	timer *time.Timer
	done  chan struct{}
	dlsns []DLSN
	err   error
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
	a := &Appender{
		client: c, log: log, cfg: cfg,
		budget:   budget{max: cfg.maxInFlightBytes},
		slots:    make(chan struct{}, cfg.maxInFlight),
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		finished: make(chan struct{}),
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

// AppendEntry appends the records as one entry of their own (record i gets
// slot i), in order with the other appends, and returns their DLSNs.
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
		close(a.quit)
	}
	select {
	case <-a.finished:
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.cancel()
	return err
}

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
	a.queue = append(a.queue, b)
	a.last = b
	signal(a.wake)
}

func (a *Appender) takeQueue() []*appendBatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.queue
	a.queue = nil
	return q
}

// sendLoop is the only sender: it keeps the order of sealed batches.
func (a *Appender) sendLoop() {
	defer close(a.finished)
	for {
		select {
		case <-a.wake:
		case <-a.quit:
			for q := a.takeQueue(); len(q) > 0; q = a.takeQueue() {
				a.sendAll(q)
			}
			if a.stream != nil {
				a.stream.closeSend()
				<-a.stream.done
			}
			return
		}
		a.sendAll(a.takeQueue())
	}
}

func (a *Appender) sendAll(q []*appendBatch) {
	for _, b := range q {
		a.nextID++
		b.req.RequestId = a.nextID
		select {
		case a.slots <- struct{}{}:
		case <-a.ctx.Done():
			a.settle(b, nil, a.ctx.Err())
			continue
		}
		a.send(b)
	}
}

// send writes b on the current stream, opening one when there is none or the last one broke.
func (a *Appender) send(b *appendBatch) {
	for a.stream == nil || !a.stream.push(b) {
		s, err := a.openStream()
		if err != nil {
			<-a.slots
			a.settle(b, nil, err)
			return
		}
		a.stream = s
	}
	// A failed send breaks the stream; its receiver fails what it holds, b included.
	_ = a.stream.stream.Send(b.req)
}

func (a *Appender) openStream() (*appendStream, error) {
	ctx, cancel := context.WithCancel(a.ctx)
	stream, err := a.client.logs.AppendStream(ctx)
	if err != nil {
		cancel()
		return nil, wrapError(err)
	}
	s := &appendStream{stream: stream, cancel: cancel, done: make(chan struct{})}
	go a.receive(s)
	return s, nil
}

// settle answers b's callers and gives its room back.
func (a *Appender) settle(b *appendBatch, resp *dlogv1.AppendResponse, err error) {
	switch {
	case err != nil:
		b.err = err
	case resp.Error != nil:
		b.err = appendError(resp.Error)
	case len(resp.Dlsns) != len(b.req.Records):
		b.err = &Error{Code: codes.Internal, Message: fmt.Sprintf("append of %d records answered with %d DLSNs", len(b.req.Records), len(resp.Dlsns))}
	default:
		b.dlsns = dlsnsOf(resp.Dlsns)
	}
	close(b.done)
	a.budget.release(b.cost)
}

// receive matches answers to requests in order; when the stream breaks, every
// append it holds fails (its outcome is unknown) and the next append opens a new stream.
func (a *Appender) receive(s *appendStream) {
	defer close(s.done)
	defer s.cancel()
	var failure error
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			failure = err
			break
		}
		b := s.pop()
		if b == nil {
			failure = &Error{Code: codes.Internal, Message: "an append answer arrived with no append in flight"}
			break
		}
		<-a.slots
		if resp.RequestId != b.req.RequestId {
			// Answers are matched by order: once one is out of place none after it can be trusted.
			failure = &Error{Code: codes.Internal, Message: fmt.Sprintf("answer for append %d arrived in place of %d", resp.RequestId, b.req.RequestId)}
			a.settle(b, nil, failure)
			break
		}
		a.settle(b, resp, nil)
	}
	if errors.Is(failure, io.EOF) {
		failure = &Error{Code: codes.Unavailable, Message: "the append stream ended before answering every append"}
	} else {
		failure = wrapError(failure)
	}
	for _, b := range s.breakOff() {
		<-a.slots
		a.settle(b, nil, failure)
	}
}

// appendStream is one AppendStream call and the appends it owes answers for.
type appendStream struct {
	stream dlogv1.LogService_AppendStreamClient
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	broken bool
	sent   []*appendBatch
	head   int
}

// push records b as sent on this stream; false once the stream broke.
func (s *appendStream) push(b *appendBatch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return false
	}
	s.sent = append(s.sent, b)
	return true
}

// breakOff marks the stream broken and returns the appends it still owed.
func (s *appendStream) breakOff() []*appendBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = true
	owed := s.sent[s.head:]
	s.sent, s.head = nil, 0
	return owed
}

func (s *appendStream) pop() *appendBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.sent) {
		return nil
	}
	b := s.sent[s.head]
	s.sent[s.head] = nil
	s.head++
	if s.head == len(s.sent) {
		s.sent, s.head = s.sent[:0], 0
	}
	return b
}

func (s *appendStream) closeSend() { _ = s.stream.CloseSend() }
