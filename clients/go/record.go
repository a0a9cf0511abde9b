package dlog

import (
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// Record is one record of a log, as Read and a Reader deliver it.
type Record struct {
	DLSN       DLSN
	TxID       int64
	AppendTime time.Time
	Payload    []byte
	// SequenceID is the record's 0-based position in its log, never reused.
	SequenceID int64
	// Attempt is the delivery attempt in a reader session: 1 = first delivery,
	// >= 2 = delivered again (nack, ack wait, or a resume after acks that were
	// not durable: a possible duplicate). 0 in a plain Read.
	Attempt uint32
	// Redelivered: Attempt >= 2, or this Reader already handed the record out
	// on an earlier session before a reconnect.
	Redelivered bool

	// Reader bookkeeping, guarded by the session's mutex.
	sess    *session
	acked   bool
	primary *Record // on a second delivery in one session: the first one
	ackMsg  uint64  // the number of the Ack message that carried this record
}

// Ack marks the record processed; the same as Reader.Ack(r).
func (r *Record) Ack() {
	if r.sess != nil {
		r.sess.ack(r)
	}
}

// Nack asks for the record again (attempt + 1) in this session; the same as Reader.Nack(r).
func (r *Record) Nack() {
	if r.sess != nil {
		r.sess.nack(r)
	}
}

// AckDurable reports whether the record's ack is known to be on the server's
// disk: a status (or the drain) covered the ack message that carried it. A
// server crash cannot replay a record whose ack is durable.
func (r *Record) AckDurable() bool {
	if r.sess == nil {
		return false
	}
	return r.sess.ackDurable(r)
}

func millis(ms int64) time.Time { return time.UnixMilli(ms) }

// fillRecord copies a wire record into r (no allocation beyond what decoding did).
func fillRecord(r *Record, w *dlogv1.Record) {
	r.DLSN = fromWire(w.Dlsn)
	r.TxID = w.Txid
	r.AppendTime = millis(w.AppendTimeMs)
	r.Payload = w.Payload
	r.SequenceID = w.SequenceId
	r.Attempt = w.Attempt
	r.Redelivered = w.Attempt >= 2
}
