package dlog

import (
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// What a Reader reports about its sessions (Opened, Status, Reconnect: the
// values of its accessors and callbacks) and how they are read off the wire.

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

var sourceNames = map[dlogv1.ResumeSource]ResumeSource{
	dlogv1.ResumeSource_RESUME_SOURCE_STORED:   SourceStored,
	dlogv1.ResumeSource_RESUME_SOURCE_FALLBACK: SourceFallback,
	dlogv1.ResumeSource_RESUME_SOURCE_OVERRIDE: SourceOverride,
	dlogv1.ResumeSource_RESUME_SOURCE_CLIENT:   SourceClient,
}

func openedFromWire(w *dlogv1.Opened, reconnects int) Opened {
	return Opened{
		Epoch: w.Epoch, ResumeAfter: fromWire(w.ResumeAfter), Source: sourceNames[w.Source], LogHead: fromWire(w.LogHead),
		SkippedByTruncation: w.SkippedByTruncation, DurableHoles: w.DurableHoles, Flow: flowFromWire(w.Flow),
		DeliveredHigh: fromWire(w.DeliveredHigh), Reconnects: reconnects,
	}
}

func statusFromWire(w *dlogv1.ReaderStatus) Status {
	return Status{
		DurableFloor: fromWire(w.DurableFloor), AckedFloor: fromWire(w.AckedFloor), DeliveredHigh: fromWire(w.DeliveredHigh),
		OutstandingRecords: w.OutstandingRecords, OutstandingBytes: w.OutstandingBytes, Holes: w.Holes,
		DurableHoles: w.DurableHoles, Lag: w.Lag, PausedReason: w.PausedReason, AcksDurable: w.AcksDurable, AcksReceived: w.AcksReceived,
	}
}
