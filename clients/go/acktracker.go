package dlog

import (
	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// trimAt: drop the settled head of the window once this many entries sit before it.
const trimAt = 4096

// ackTracker coalesces one session's acks: the application acks records one
// by one, take() turns everything acked since the last call into one Ack
// message — a cumulative up_to for the contiguous acked prefix of what was
// delivered, plus individual DLSNs only for acks above the first unacked
// record. First deliveries arrive in DLSN order, so the window is sorted and
// a second delivery (nack, ack wait) finds its first one by binary search;
// acking either settles the DLSN, which is what the server tracks.
//
// Not safe for concurrent use: the session's mutex guards it.
type ackTracker struct {
	window  []*Record
	head    int
	high    DLSN
	covered DLSN // the last up_to sent: everything at or below it is acked
	acks    []*Record
	nacks   []DLSN
}

func (t *ackTracker) pending() int { return len(t.acks) + len(t.nacks) }

func (t *ackTracker) delivered(r *Record) {
	if t.high.IsZero() || r.DLSN.Compare(t.high) > 0 {
		t.window = append(t.window, r)
		t.high = r.DLSN
		return
	}
	r.primary = t.find(r.DLSN)
}

// first is the delivery the server tracks for r's DLSN: r itself, or its first delivery in this session.
func (r *Record) first() *Record {
	if r.primary != nil {
		return r.primary
	}
	return r
}

// ack marks r acked; false when its DLSN already was.
func (t *ackTracker) ack(r *Record) bool {
	target := r.first()
	if target.acked {
		return false
	}
	target.acked = true
	r.acked = true
	t.acks = append(t.acks, target)
	return true
}

// nack asks for r again; false when its DLSN is acked (nothing to redeliver).
func (t *ackTracker) nack(r *Record) bool {
	target := r.first()
	if target.acked {
		return false
	}
	t.nacks = append(t.nacks, target.DLSN)
	return true
}

// take returns what was acked and nacked since the last call as at most one
// Ack and one Nack message; msg numbers the Ack message (the server counts
// them for acks_durable) and is stamped on every record it carries; the
// caller counts it as used only when an Ack comes back.
func (t *ackTracker) take(msg uint64) (*dlogv1.Ack, *dlogv1.Nack) {
	var ack *dlogv1.Ack
	if len(t.acks) > 0 {
		head := t.head
		for head < len(t.window) && t.window[head].acked {
			head++
		}
		var upTo *dlogv1.DLSN
		if head > t.head {
			t.covered = t.window[head-1].DLSN
			upTo = t.covered.wire()
			t.head = head
		}
		var dlsns []*dlogv1.DLSN
		for _, r := range t.acks {
			r.ackMsg = msg
			if r.DLSN.Compare(t.covered) > 0 {
				dlsns = append(dlsns, r.DLSN.wire())
			}
		}
		clear(t.acks)
		t.acks = t.acks[:0]
		if upTo != nil || len(dlsns) > 0 {
			ack = &dlogv1.Ack{Dlsns: dlsns, UpTo: upTo}
		}
		t.trim()
	}
	var nack *dlogv1.Nack
	if len(t.nacks) > 0 {
		nack = &dlogv1.Nack{}
		for _, d := range t.nacks {
			nack.Dlsns = append(nack.Dlsns, d.wire())
		}
		t.nacks = t.nacks[:0]
	}
	return ack, nack
}

func (t *ackTracker) find(d DLSN) *Record {
	low, high := t.head, len(t.window)-1
	for low <= high {
		middle := int(uint(low+high) >> 1)
		switch order := t.window[middle].DLSN.Compare(d); {
		case order == 0:
			return t.window[middle]
		case order < 0:
			low = middle + 1
		default:
			high = middle - 1
		}
	}
	return nil
}

func (t *ackTracker) trim() {
	if t.head >= trimAt && t.head*2 >= len(t.window) {
		n := copy(t.window, t.window[t.head:])
		clear(t.window[n:])
		t.window = t.window[:n]
		t.head = 0
	}
}
