package dlog

import (
	"strconv"
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// Position says where to start reading; every form is inclusive (the first
// record at or after it). The zero Position is "unset": the call's default.
type Position struct {
	kind positionKind
	dlsn DLSN
	n    int64
}

type positionKind uint8

const (
	positionUnset positionKind = iota
	positionEarliest
	positionLatest
	positionDLSN
	positionTxID
	positionTime
)

var (
	// Earliest is the first record that still exists.
	Earliest = Position{kind: positionEarliest}
	// Latest is after the last record: only records appended from now on.
	Latest = Position{kind: positionLatest}
)

// AtDLSN starts at the first record at or after d.
func AtDLSN(d DLSN) Position { return Position{kind: positionDLSN, dlsn: d} }

// AtTxID starts at the first record whose txid is >= txid.
func AtTxID(txid int64) Position { return Position{kind: positionTxID, n: txid} }

// AtTime starts at the first record appended at or after t.
func AtTime(t time.Time) Position { return Position{kind: positionTime, n: t.UnixMilli()} }

// IsZero reports whether p is unset.
func (p Position) IsZero() bool { return p.kind == positionUnset }

func (p Position) String() string {
	switch p.kind {
	case positionEarliest:
		return "earliest"
	case positionLatest:
		return "latest"
	case positionDLSN:
		return p.dlsn.String()
	case positionTxID:
		return "txid:" + strconv.FormatInt(p.n, 10)
	case positionTime:
		return "time:" + time.UnixMilli(p.n).UTC().Format(time.RFC3339Nano)
	}
	return "unset"
}

// wire is nil for the unset Position.
func (p Position) wire() *dlogv1.Position {
	switch p.kind {
	case positionEarliest:
		return &dlogv1.Position{At: &dlogv1.Position_Boundary{Boundary: dlogv1.Boundary_BOUNDARY_EARLIEST}}
	case positionLatest:
		return &dlogv1.Position{At: &dlogv1.Position_Boundary{Boundary: dlogv1.Boundary_BOUNDARY_LATEST}}
	case positionDLSN:
		return &dlogv1.Position{At: &dlogv1.Position_Dlsn{Dlsn: p.dlsn.wire()}}
	case positionTxID:
		return &dlogv1.Position{At: &dlogv1.Position_Txid{Txid: p.n}}
	case positionTime:
		return &dlogv1.Position{At: &dlogv1.Position_TimeMs{TimeMs: p.n}}
	}
	return nil
}
