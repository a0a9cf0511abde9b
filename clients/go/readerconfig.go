package dlog

import (
	"errors"
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// What OpenReader accepts (ReaderConfig and its parts), how it is checked and
// defaulted, and how it becomes the Open message of each session.

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

func flowFromWire(w *dlogv1.FlowLimits) FlowLimits {
	return FlowLimits{MaxOutstandingRecords: w.GetMaxOutstandingRecords(), MaxOutstandingBytes: w.GetMaxOutstandingBytes(), MaxBatchRecords: w.GetMaxBatchRecords()}
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

// defaultAckInterval: acks made within it travel in one message.
const defaultAckInterval = 2 * time.Millisecond

// withDefaults checks what OpenReader needs and fills what was left unset.
func (cfg ReaderConfig) withDefaults() (ReaderConfig, error) {
	if cfg.Log == "" || cfg.ReaderID == "" {
		return cfg, errors.New("dlog: ReaderConfig needs Log and ReaderID")
	}
	if cfg.ResumePolicy == ResumeClient && cfg.Checkpoint.IsZero() {
		return cfg, errors.New("dlog: ResumeClient needs a Checkpoint")
	}
	if cfg.AckInterval == 0 {
		cfg.AckInterval = defaultAckInterval
	}
	return cfg, nil
}

// open is the Open message of a session: the first one applies From (as
// override), Checkpoint and ResumePolicy; after a reconnect the server's
// stored position is always the better one.
func (cfg ReaderConfig) open(override Position, flow FlowLimits, first bool) *dlogv1.Open {
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
