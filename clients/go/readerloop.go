package dlog

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// The Reader's session loop, on its own goroutine: open a session, receive
// its records and frames, and when the stream ends reconnect or finish.

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
		if r.client.isClosed() {
			r.fail(clientClosedError("reader"))
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
		case <-r.client.closed:
			timer.Stop()
			r.fail(clientClosedError("reader"))
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
	return r.cfg.open(override, flow, first)
}

func (r *Reader) onOpened(s *session, w *dlogv1.Opened) {
	s.opened = true
	flow := flowFromWire(w.Flow)
	s.mu.Lock()
	if flow.MaxOutstandingRecords > 0 {
		s.flushAt = max(int(flow.MaxOutstandingRecords)/2, 1)
	}
	s.mu.Unlock()
	r.mu.Lock()
	info := openedFromWire(w, r.sessions)
	r.sessions++
	r.opened = info
	r.mu.Unlock()
	r.openOnce.Do(func() { close(r.firstOpen) })
	if cb := r.cfg.OnOpened; cb != nil {
		cb(info)
	}
}

func (r *Reader) onStatus(s *session, w *dlogv1.ReaderStatus) {
	st := statusFromWire(w)
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
