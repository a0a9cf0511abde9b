package dlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
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
	retry            ReconnectPolicy
	producerID       string
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

// WithMaxInFlight bounds the append requests sent and not yet answered
// (default 1024). With retries on, keep it at or below the server's
// --producer-window (default 1024), or a resend may be too old to recognise.
func WithMaxInFlight(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxInFlight = max(n, 1) }
}

// WithRetry sets how the appender reconnects when its stream breaks
// (UNAVAILABLE: the server restarted, the connection dropped): with backoff,
// resending every unanswered append. Appends are idempotent (a producer id
// and a sequence number each), so a resend of an append that was written is
// answered with its original DLSNs instead of being written twice. On by
// default; ReconnectPolicy{Disabled: true} turns it off: then unanswered
// appends fail (their outcome is unknown) and none carries a producer id.
func WithRetry(p ReconnectPolicy) AppenderOption {
	return func(c *appenderConfig) { c.retry = p }
}

// WithProducerID sets the producer id of the idempotent appends (default: a
// random one per appender). Never share one between two live appenders.
func WithProducerID(id string) AppenderOption {
	return func(c *appenderConfig) { c.producerID = id }
}

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

// maxRenumbers: an append renumbered this often is fighting another appender with the same producer id.
const maxRenumbers = 16

// sendLoop is the only sender: it keeps the order of sealed batches, resends
// what a broken stream left unanswered, and renumbers after a refusal.
func (a *Appender) sendLoop() {
	defer close(a.finished)
	for {
		b, lost, ok := a.next()
		if !ok {
			if a.stream != nil {
				a.stream.closeSend()
				<-a.stream.done
			}
			return
		}
		a.send(b, lost)
	}
}

// next waits for the next batch to send, counting it in flight; false when
// the appender is closing and everything is answered.
func (a *Appender) next() (*appendBatch, error, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if a.ctx.Err() != nil {
			a.failQueuedLocked(a.ctx.Err())
		}
		if a.rewinding && a.inFlight == 0 {
			// Everything still to send came after the refused append: none of it was written.
			a.nextSeq, a.rewinding = a.rewindSeq, false
			for _, b := range a.resend {
				b.seq = 0
			}
		}
		if !a.rewinding && a.inFlight < a.cfg.maxInFlight {
			var b *appendBatch
			if len(a.resend) > 0 {
				b, a.resend[0], a.resend = a.resend[0], nil, a.resend[1:]
			} else if len(a.queue) > 0 {
				b, a.queue[0], a.queue = a.queue[0], nil, a.queue[1:]
			}
			if b != nil {
				lost := a.lost
				a.lost = nil
				a.inFlight++
				return b, lost, true
			}
		}
		if (a.quitting || a.ctx.Err() != nil) && a.inFlight == 0 && len(a.resend) == 0 && len(a.queue) == 0 {
			return nil, nil, false
		}
		a.mu.Unlock()
		select {
		case <-a.wake:
		case <-a.ctx.Done():
		}
		a.mu.Lock()
	}
}

// send writes b on the current stream; after a break it first backs off and reconnects.
func (a *Appender) send(b *appendBatch, lost error) {
	if lost != nil {
		a.mu.Lock()
		delay, ok := a.backoff.next()
		a.mu.Unlock()
		if !ok {
			a.giveUp(b, lost)
			return
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-a.ctx.Done():
			timer.Stop()
			a.giveUp(b, a.ctx.Err())
			return
		}
		a.stream = nil
	}
	if a.cfg.producerID != "" && b.seq == 0 {
		b.seq = a.nextSeq
		a.nextSeq++
	}
	a.nextID++
	b.req.RequestId, b.req.ProducerId, b.req.ProducerSeq = a.nextID, a.cfg.producerID, b.seq
	for {
		if a.stream == nil {
			stream, err := a.openStream()
			if err != nil {
				a.mu.Lock()
				a.inFlight--
				if a.retrying(err) {
					a.requeueLocked(b)
					a.lost = err
					a.mu.Unlock()
					signal(a.wake)
					return
				}
				a.mu.Unlock()
				a.finish(b, nil, err)
				return
			}
			a.stream = stream
		}
		// Under mu, so that b lands either in what a break owes or, after it, back in resend.
		a.mu.Lock()
		if a.stream.push(b) {
			a.mu.Unlock()
			break
		}
		broken := a.lost != nil
		if broken {
			a.inFlight--
			a.requeueLocked(b)
		}
		a.mu.Unlock()
		if broken {
			signal(a.wake)
			return
		}
		a.stream = nil // broken for good (no retry): open another
	}
	// A failed send breaks the stream; its receiver sees why and deals with b.
	_ = a.stream.stream.Send(b.req)
}

// requeueLocked puts b back among the appends to resend, in call order.
func (a *Appender) requeueLocked(b *appendBatch) {
	i := len(a.resend)
	for i > 0 && a.resend[i-1].order > b.order {
		i--
	}
	a.resend = append(a.resend, nil)
	copy(a.resend[i+1:], a.resend[i:])
	a.resend[i] = b
}

// retrying: resend after this failure? Called with mu held.
func (a *Appender) retrying(err error) bool {
	return a.cfg.producerID != "" && a.ctx.Err() == nil && retryable(err, false)
}

// giveUp fails b and everything waiting to be sent: the retry budget is spent.
func (a *Appender) giveUp(b *appendBatch, err error) {
	a.mu.Lock()
	a.inFlight--
	a.backoff.reset()
	failed := append([]*appendBatch{b}, a.takeQueuedLocked()...)
	a.mu.Unlock()
	for _, f := range failed {
		a.finish(f, nil, err)
	}
	signal(a.wake)
}

func (a *Appender) takeQueuedLocked() []*appendBatch {
	q := append(a.resend, a.queue...)
	a.resend, a.queue = nil, nil
	return q
}

func (a *Appender) failQueuedLocked(err error) {
	for _, b := range a.takeQueuedLocked() {
		a.finish(b, nil, err)
	}
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

// finish answers b's callers and gives its room back.
func (a *Appender) finish(b *appendBatch, dlsns []DLSN, err error) {
	b.dlsns, b.err = dlsns, err
	close(b.done)
	a.budget.release(b.cost)
}

// answered handles the answer to b: its DLSNs, its refusal, or a sequence gap to renumber.
func (a *Appender) answered(b *appendBatch, resp *dlogv1.AppendResponse) {
	var err error
	switch {
	case resp.Error != nil:
		e := appendError(resp.Error)
		if e.Reason == ReasonProducerSequenceGap && b.renumbered < maxRenumbers {
			expected, _ := strconv.ParseUint(e.Metadata["expected_seq"], 10, 64)
			a.mu.Lock()
			a.inFlight--
			if !a.rewinding && expected > 0 {
				a.rewinding, a.rewindSeq = true, expected
			}
			if a.rewinding {
				b.renumbered++
				a.requeueLocked(b)
				a.mu.Unlock()
				signal(a.wake)
				return
			}
			a.mu.Unlock()
			a.finish(b, nil, e)
			signal(a.wake)
			return
		}
		err = e
	case len(resp.Dlsns) != len(b.req.Records):
		err = &Error{Code: codes.Internal, Message: fmt.Sprintf("append of %d records answered with %d DLSNs", len(b.req.Records), len(resp.Dlsns))}
	}
	a.mu.Lock()
	a.inFlight--
	if err == nil {
		a.backoff.reset()
	} else if a.cfg.producerID != "" && !a.rewinding && !usesUpSeq(err) {
		// A refused append does not use up its seq: the next one takes it.
		a.rewinding, a.rewindSeq = true, b.seq
	}
	a.mu.Unlock()
	if err != nil {
		a.finish(b, nil, err)
	} else {
		a.finish(b, dlsnsOf(resp.Dlsns), nil)
	}
	signal(a.wake)
}

// usesUpSeq: refusals of the seq itself (reused, too old) leave the producer's sequence where it is.
func usesUpSeq(err error) bool {
	return errors.Is(err, ErrProducerSequenceReused) || errors.Is(err, ErrProducerSequenceTooOld)
}

// receive matches answers to requests in order. When the stream breaks, the
// appends it owes are sent again (retries on, the break worth retrying) or
// fail (their outcome is unknown).
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
		if resp.RequestId != b.req.RequestId {
			// Answers are matched by order: once one is out of place none after it can be trusted.
			failure = &Error{Code: codes.Internal, Message: fmt.Sprintf("answer for append %d arrived in place of %d", resp.RequestId, b.req.RequestId)}
			a.mu.Lock()
			a.inFlight--
			a.mu.Unlock()
			a.finish(b, nil, failure)
			break
		}
		a.answered(b, resp)
	}
	if errors.Is(failure, io.EOF) {
		failure = &Error{Code: codes.Unavailable, Message: "the append stream ended before answering every append"}
	} else {
		failure = wrapError(failure)
	}
	a.mu.Lock()
	owed := s.breakOff()
	a.inFlight -= len(owed)
	if a.retrying(failure) {
		for _, b := range owed {
			a.requeueLocked(b) // with its seq: it may have been written, the server will say
		}
		a.lost = failure
		owed = nil
	}
	a.mu.Unlock()
	for _, b := range owed {
		a.finish(b, nil, failure)
	}
	signal(a.wake)
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
