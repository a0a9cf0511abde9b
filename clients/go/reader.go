package dlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// ResumePolicy chooses between the server's stored position and a
// checkpoint the application kept itself.
type ResumePolicy int

const (
	ResumeStored ResumePolicy = iota // the server's durable position (default)
	ResumeClient                     // ReaderConfig.Checkpoint
	ResumeMax                        // whichever of the two is further
)

// Takeover says what happens when another session holds the reader.
type Takeover int

const (
	TakeoverFence  Takeover = iota // end the other session (ABORTED, READER_FENCED); default
	TakeoverReject                 // fail this one (ALREADY_EXISTS, READER_LIVE)
)

// FlowLimits bound what the server sends before acks come back; a zero field
// keeps the current value (on open: the server's default of 1000 records,
// 64 MiB, 256 records per batch).
type FlowLimits struct {
	MaxOutstandingRecords uint32
	MaxOutstandingBytes   uint64
	MaxBatchRecords       uint32
}

func (f FlowLimits) wire() *dlogv1.FlowLimits {
	return &dlogv1.FlowLimits{MaxOutstandingRecords: f.MaxOutstandingRecords, MaxOutstandingBytes: f.MaxOutstandingBytes, MaxBatchRecords: f.MaxBatchRecords}
}

func (f FlowLimits) merge(g FlowLimits) FlowLimits {
	if g.MaxOutstandingRecords != 0 {
		f.MaxOutstandingRecords = g.MaxOutstandingRecords
	}
	if g.MaxOutstandingBytes != 0 {
		f.MaxOutstandingBytes = g.MaxOutstandingBytes
	}
	if g.MaxBatchRecords != 0 {
		f.MaxBatchRecords = g.MaxBatchRecords
	}
	return f
}

// ReaderConfig configures OpenReader. Log and ReaderID are required.
type ReaderConfig struct {
	Log      string
	ReaderID string
	// From re-positions the reader on the first open (the open's override);
	// reconnects resume from the stored position instead. Unset: no override.
	From Position
	// Fallback is where a reader with no stored position starts. Unset: Earliest.
	Fallback Position
	// Checkpoint is a position the application persisted itself (the last
	// record it processed), used per ResumePolicy on the first open.
	Checkpoint   DLSN
	ResumePolicy ResumePolicy
	Flow         FlowLimits
	// AckWait: records not acked for this long are delivered again in the same
	// session (attempt + 1). 0 = never.
	AckWait  time.Duration
	Takeover Takeover
	// Reconnect: on UNAVAILABLE or a lost connection the reader opens a new
	// session by itself; never on ABORTED (fenced) or bad input.
	Reconnect ReconnectPolicy
	// AckInterval is the least time between two Ack messages (default 2 ms):
	// acks made meanwhile travel together. They go at once when Next is about
	// to wait, or when half the outstanding limit is acked. Negative: no wait.
	AckInterval time.Duration
	// Callbacks run on the reader's receiving goroutine: keep them short.
	OnOpened    func(Opened)
	OnStatus    func(Status)
	OnReconnect func(Reconnect)
}

// ResumeSource says why a session started where it did.
type ResumeSource string

const (
	SourceStored   ResumeSource = "stored"
	SourceFallback ResumeSource = "fallback"
	SourceOverride ResumeSource = "override"
	SourceClient   ResumeSource = "client"
)

// Opened is what the server said when a session opened.
type Opened struct {
	Epoch uint64
	// ResumeAfter: delivery starts strictly after it ((1,0,-1) = the start).
	ResumeAfter         DLSN
	Source              ResumeSource
	LogHead             DLSN // zero when the log is empty
	SkippedByTruncation int64
	DurableHoles        int64
	Flow                FlowLimits // in force
	// DeliveredHigh: records up to it were delivered to an earlier session and come with attempt >= 2.
	DeliveredHigh DLSN
	// Reconnects counts the sessions this Reader opened before this one.
	Reconnects int
}

// Status is a status frame: what is durable, acked and outstanding on the server.
type Status struct {
	// DurableFloor is on disk: a server crash replays everything after it (minus durable holes).
	DurableFloor       DLSN
	AckedFloor         DLSN
	DeliveredHigh      DLSN
	OutstandingRecords int64
	OutstandingBytes   int64
	Holes              int64
	DurableHoles       int64
	Lag                int64
	PausedReason       string // why delivery is paused; empty when it is not
	// AcksDurable: the first AcksDurable Ack messages of this session are on
	// disk (Record.AckDurable uses it). AcksReceived: applied in memory.
	AcksDurable  uint64
	AcksReceived uint64
}

// Reconnect describes a retry after a lost session.
type Reconnect struct {
	Attempt int // 1 for the first retry after a loss
	Delay   time.Duration
	Err     error
}

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
	if cfg.Log == "" || cfg.ReaderID == "" {
		return nil, errors.New("dlog: ReaderConfig needs Log and ReaderID")
	}
	if cfg.ResumePolicy == ResumeClient && cfg.Checkpoint.IsZero() {
		return nil, errors.New("dlog: ResumeClient needs a Checkpoint")
	}
	if cfg.AckInterval == 0 {
		cfg.AckInterval = 2 * time.Millisecond
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

// run is the session loop: open, serve until the stream ends, then reconnect or finish.
func (r *Reader) run() {
	defer close(r.finished)
	override := r.cfg.From
	for {
		s := r.newSession()
		if s == nil {
			return
		}
		err := r.serve(s, override)
		s.end()
		if s.drained != nil {
			return
		}
		if s.opened {
			override = Position{} // applied; a reconnect resumes from the stored position
			r.backoff.reset()
		}
		r.mu.Lock()
		stopping, aborted, reconnecting := r.stopping, r.aborted, r.sessions > 0
		if stopping && !aborted && s.opened {
			r.closeErr = err
			if r.closeErr == nil {
				r.closeErr = &Error{Code: codes.Unavailable, Message: "the session ended before the drain was answered"}
			}
		}
		r.mu.Unlock()
		if stopping {
			return
		}
		delay, ok := time.Duration(0), false
		if !r.cfg.Reconnect.Disabled && retryable(err, reconnecting) {
			delay, ok = r.backoff.next()
		}
		if !ok {
			r.fail(err)
			return
		}
		if cb := r.cfg.OnReconnect; cb != nil {
			cb(Reconnect{Attempt: r.backoff.attempts, Delay: delay, Err: err})
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-r.stopCh:
			timer.Stop()
			return
		}
	}
}

func (r *Reader) newSession() *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return nil
	}
	s := &session{
		kick:     make(chan struct{}, 1),
		urgent:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		interval: max(r.cfg.AckInterval, 0),
		flushAt:  500,
	}
	s.alive.Store(true)
	s.ctx, s.cancel = context.WithCancel(r.ctx)
	r.cur = s
	return s
}

func (r *Reader) fail(err error) {
	r.mu.Lock()
	r.failErr = err
	r.mu.Unlock()
	close(r.failedCh)
}

// serve runs one session stream until it ends; nil only after drained.
func (r *Reader) serve(s *session, override Position) error {
	stream, err := r.client.readers.Session(s.ctx)
	if err != nil {
		return wrapError(err)
	}
	if err := stream.Send(&dlogv1.SessionRequest{Kind: &dlogv1.SessionRequest_Open{Open: r.openMessage(override)}}); err != nil {
		_, err = stream.Recv() // the stream's status says why
		return ended(err)
	}
	go s.sendLoop(stream)
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) && s.drained != nil {
				return nil
			}
			return ended(err)
		}
		switch kind := resp.Kind.(type) {
		case *dlogv1.SessionResponse_Records:
			r.deliver(s, kind.Records.Records)
		case *dlogv1.SessionResponse_Status:
			r.onStatus(s, kind.Status)
		case *dlogv1.SessionResponse_Opened:
			r.onOpened(s, kind.Opened)
		case *dlogv1.SessionResponse_Drained:
			s.drained = kind.Drained
			s.setAcksDurable(kind.Drained.AcksDurable)
			r.mu.Lock()
			if kind.Drained.DurableFloor != nil {
				r.durable = fromWire(kind.Drained.DurableFloor)
			}
			r.mu.Unlock()
		}
	}
}

// ended is the error of a stream that stopped without drained.
func ended(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return &Error{Code: codes.Unavailable, Message: "the server ended the session stream without drained"}
	}
	return wrapError(err)
}

func (r *Reader) openMessage(override Position) *dlogv1.Open {
	r.mu.Lock()
	first, flow := r.sessions == 0, r.flow
	r.mu.Unlock()
	cfg := r.cfg
	open := &dlogv1.Open{
		Log:       cfg.Log,
		ReaderId:  cfg.ReaderID,
		Fallback:  cfg.Fallback.wire(),
		Override:  override.wire(),
		Flow:      flow.wire(),
		Takeover:  dlogv1.Takeover_TAKEOVER_FENCE,
		AckWaitMs: uint32(cfg.AckWait / time.Millisecond),
	}
	if cfg.Takeover == TakeoverReject {
		open.Takeover = dlogv1.Takeover_TAKEOVER_REJECT
	}
	// After a reconnect the server's stored position is always the better one.
	if first {
		open.ClientCheckpoint = cfg.Checkpoint.wireOrNil()
		switch cfg.ResumePolicy {
		case ResumeClient:
			open.ResumePolicy = dlogv1.ResumePolicy_RESUME_POLICY_CLIENT
		case ResumeMax:
			open.ResumePolicy = dlogv1.ResumePolicy_RESUME_POLICY_MAX
		default:
			open.ResumePolicy = dlogv1.ResumePolicy_RESUME_POLICY_STORED
		}
	} else {
		open.ResumePolicy = dlogv1.ResumePolicy_RESUME_POLICY_STORED
	}
	return open
}

var sourceNames = map[dlogv1.ResumeSource]ResumeSource{
	dlogv1.ResumeSource_RESUME_SOURCE_STORED:   SourceStored,
	dlogv1.ResumeSource_RESUME_SOURCE_FALLBACK: SourceFallback,
	dlogv1.ResumeSource_RESUME_SOURCE_OVERRIDE: SourceOverride,
	dlogv1.ResumeSource_RESUME_SOURCE_CLIENT:   SourceClient,
}

func (r *Reader) onOpened(s *session, w *dlogv1.Opened) {
	s.opened = true
	flow := FlowLimits{MaxOutstandingRecords: w.Flow.GetMaxOutstandingRecords(), MaxOutstandingBytes: w.Flow.GetMaxOutstandingBytes(), MaxBatchRecords: w.Flow.GetMaxBatchRecords()}
	s.mu.Lock()
	if flow.MaxOutstandingRecords > 0 {
		s.flushAt = max(int(flow.MaxOutstandingRecords)/2, 1)
	}
	s.mu.Unlock()
	r.mu.Lock()
	info := Opened{
		Epoch: w.Epoch, ResumeAfter: fromWire(w.ResumeAfter), Source: sourceNames[w.Source], LogHead: fromWire(w.LogHead),
		SkippedByTruncation: w.SkippedByTruncation, DurableHoles: w.DurableHoles, Flow: flow,
		DeliveredHigh: fromWire(w.DeliveredHigh), Reconnects: r.sessions,
	}
	r.sessions++
	r.opened = info
	r.mu.Unlock()
	r.openOnce.Do(func() { close(r.firstOpen) })
	if cb := r.cfg.OnOpened; cb != nil {
		cb(info)
	}
}

func (r *Reader) onStatus(s *session, w *dlogv1.ReaderStatus) {
	st := Status{
		DurableFloor: fromWire(w.DurableFloor), AckedFloor: fromWire(w.AckedFloor), DeliveredHigh: fromWire(w.DeliveredHigh),
		OutstandingRecords: w.OutstandingRecords, OutstandingBytes: w.OutstandingBytes, Holes: w.Holes,
		DurableHoles: w.DurableHoles, Lag: w.Lag, PausedReason: w.PausedReason, AcksDurable: w.AcksDurable, AcksReceived: w.AcksReceived,
	}
	s.setAcksDurable(w.AcksDurable)
	r.mu.Lock()
	r.status, r.hasStatus = st, true
	if !st.DurableFloor.IsZero() {
		r.durable = st.DurableFloor
	}
	r.mu.Unlock()
	if cb := r.cfg.OnStatus; cb != nil {
		cb(st)
	}
}

// deliver turns one record batch into records (one allocation) and queues it for Next.
func (r *Reader) deliver(s *session, wire []*dlogv1.Record) {
	b := &batch{sess: s, records: make([]Record, len(wire))}
	for i, w := range wire {
		fillRecord(&b.records[i], w)
		b.records[i].sess = s
	}
	s.mu.Lock()
	for i := range b.records {
		s.tracker.delivered(&b.records[i])
	}
	s.mu.Unlock()
	select {
	case r.batches <- b:
	case <-r.stopCh: // closing: not handed out, comes again next time
	case <-s.done:
	}
}

// retryable: worth a new session — the server or the network went away. Not:
// fenced (ABORTED), bad input, unknown log, no permission. ALREADY_EXISTS
// after a loss (takeover REJECT) is our own dead session the server has not
// noticed yet.
func retryable(err error, reconnecting bool) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.Canceled: // reset by the server (our own cancels stop the loop first)
		return true
	case codes.Internal:
		msg := strings.ToLower(err.Error())
		return strings.Contains(msg, "rst_stream") || strings.Contains(msg, "connection") || strings.Contains(msg, "transport")
	case codes.AlreadyExists:
		return reconnecting
	}
	return false
}

// session is one Session stream and its ack bookkeeping. Acks of a session
// that ended are dropped: they must never reach a newer session.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	alive  atomic.Bool
	kick   chan struct{} // acks are waiting: send within AckInterval
	urgent chan struct{} // send now
	done   chan struct{}

	interval time.Duration
	opened   bool            // serve's goroutine only
	drained  *dlogv1.Drained // serve's goroutine only

	mu          sync.Mutex
	tracker     ackTracker
	ctrl        []*dlogv1.SessionRequest // flow changes and drain, after the acks
	draining    bool
	closeSend   bool
	ackMsgs     uint64 // Ack messages sent
	acksDurable uint64
	flushAt     int
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *session) ack(rec *Record) {
	s.mu.Lock()
	if !s.alive.Load() || s.draining || !s.tracker.ack(rec) {
		s.mu.Unlock()
		return
	}
	n, at := s.tracker.pending(), s.flushAt
	s.mu.Unlock()
	if n >= at {
		signal(s.urgent)
	} else if n == 1 {
		signal(s.kick)
	}
}

func (s *session) nack(rec *Record) {
	s.mu.Lock()
	ok := s.alive.Load() && !s.draining && s.tracker.nack(rec)
	s.mu.Unlock()
	if ok {
		signal(s.urgent)
	}
}

func (s *session) ackDurable(rec *Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := rec.first()
	return target.ackMsg != 0 && target.ackMsg <= s.acksDurable && target.ackMsg <= s.ackMsgs
}

func (s *session) setAcksDurable(n uint64) {
	s.mu.Lock()
	s.acksDurable = max(s.acksDurable, n)
	s.mu.Unlock()
}

// flushSoon sends pending acks now (urgent) or within the ack interval.
func (s *session) flushSoon(urgent bool) {
	s.mu.Lock()
	pending := s.tracker.pending() > 0
	s.mu.Unlock()
	if pending && urgent {
		signal(s.urgent)
	} else if pending {
		signal(s.kick)
	}
}

// control queues a message behind the pending acks.
func (s *session) control(m *dlogv1.SessionRequest, last bool) {
	s.mu.Lock()
	if !s.alive.Load() || s.draining {
		s.mu.Unlock()
		return
	}
	s.ctrl = append(s.ctrl, m)
	if last {
		s.draining, s.closeSend = true, true
	}
	s.mu.Unlock()
	signal(s.urgent)
}

// drain sends the acks made so far, then asks the server to finish.
func (s *session) drain() {
	s.control(&dlogv1.SessionRequest{Kind: &dlogv1.SessionRequest_Drain{Drain: &dlogv1.Drain{}}}, true)
}

func (s *session) end() {
	s.alive.Store(false)
	close(s.done)
	s.cancel()
}

// sendLoop is the stream's only sender.
func (s *session) sendLoop(stream dlogv1.ReaderService_SessionClient) {
	var last time.Time
	for {
		urgent := false
		select {
		case <-s.kick:
		case <-s.urgent:
			urgent = true
		case <-s.done:
			return
		}
		if wait := time.Until(last.Add(s.interval)); !urgent && wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-s.urgent:
				timer.Stop()
			case <-s.done:
				timer.Stop()
				return
			}
		}
		messages, closeSend := s.take()
		last = time.Now()
		for _, m := range messages {
			if err := stream.Send(m); err != nil {
				return // the receiving side sees why
			}
		}
		if closeSend {
			_ = stream.CloseSend()
			return
		}
	}
}

func (s *session) take() ([]*dlogv1.SessionRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*dlogv1.SessionRequest
	ack, nack := s.tracker.take(s.ackMsgs + 1)
	if ack != nil {
		s.ackMsgs++
		out = append(out, &dlogv1.SessionRequest{Kind: &dlogv1.SessionRequest_Ack{Ack: ack}})
	}
	if nack != nil {
		out = append(out, &dlogv1.SessionRequest{Kind: &dlogv1.SessionRequest_Nack{Nack: nack}})
	}
	out = append(out, s.ctrl...)
	s.ctrl = nil
	closeSend := s.closeSend
	s.closeSend = false
	return out, closeSend
}
