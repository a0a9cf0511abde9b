package dlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// The Appender's stream side: one sender keeps the order of sealed batches,
// resends what a broken stream left unanswered and renumbers after a refusal;
// the receiver matches answers to requests in order.

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
		case <-a.client.closed:
			timer.Stop()
			a.giveUp(b, clientClosedError("appender"))
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
	return a.cfg.producerID != "" && a.ctx.Err() == nil && !a.client.isClosed() && retryable(err, false)
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
