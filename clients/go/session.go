package dlog

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// The ack path of one session stream: Record.Ack and Nack land in its
// ackTracker, and its sendLoop turns them into few Ack messages (within
// AckInterval, at once when urgent), with flow changes and the drain queued
// behind them.

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
