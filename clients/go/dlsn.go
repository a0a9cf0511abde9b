package dlog

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// DLSN is a DistributedLog Sequence Number: the position of one record,
// (log segment sequence number, entry id, slot id), ordered field by field.
//
// It is a comparable value: use == and map keys directly. The zero value,
// (0,0,0), never names a record (segments start at 1) and means "unset".
type DLSN struct {
	Segment int64
	Entry   int64
	Slot    int64
}

// DistributedLog's special values.
var (
	// InitialDLSN is the first possible record of a log.
	InitialDLSN = DLSN{1, 0, 0}
	// NonInclusiveLowerBound sorts before every record: "nothing read yet".
	NonInclusiveLowerBound = DLSN{1, 0, -1}
	// InvalidDLSN is DistributedLog's "no position".
	InvalidDLSN = DLSN{0, -1, -1}
)

// dlsnVersion is the first byte of DLSN.serializeBytes() (version 1).
const dlsnVersion = 0x01

// DLSNBytesLen is the length of the serialized form.
const DLSNBytesLen = 25

// String prints the DLSN as "segment/entry/slot", e.g. "1/42/0".
func (d DLSN) String() string {
	var b [64]byte
	out := strconv.AppendInt(b[:0], d.Segment, 10)
	out = append(out, '/')
	out = strconv.AppendInt(out, d.Entry, 10)
	out = append(out, '/')
	out = strconv.AppendInt(out, d.Slot, 10)
	return string(out)
}

// IsZero reports whether d is the unset value (0,0,0).
func (d DLSN) IsZero() bool { return d == DLSN{} }

// Compare returns -1, 0 or +1 as d sorts before, equal to or after o.
func (d DLSN) Compare(o DLSN) int {
	switch {
	case d.Segment != o.Segment:
		return cmp(d.Segment, o.Segment)
	case d.Entry != o.Entry:
		return cmp(d.Entry, o.Entry)
	default:
		return cmp(d.Slot, o.Slot)
	}
}

// Less reports whether d sorts before o.
func (d DLSN) Less(o DLSN) bool { return d.Compare(o) < 0 }

func cmp(a, b int64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// Bytes is DistributedLog's DLSN.serializeBytes(): 25 bytes, version 0x01
// then the three fields as big-endian int64.
func (d DLSN) Bytes() []byte {
	b := make([]byte, DLSNBytesLen)
	b[0] = dlsnVersion
	binary.BigEndian.PutUint64(b[1:], uint64(d.Segment))
	binary.BigEndian.PutUint64(b[9:], uint64(d.Entry))
	binary.BigEndian.PutUint64(b[17:], uint64(d.Slot))
	return b
}

// Base64 is DistributedLog's DLSN.serialize(): standard base64 of Bytes().
func (d DLSN) Base64() string { return base64.StdEncoding.EncodeToString(d.Bytes()) }

// DLSNFromBytes parses the 25-byte DLSN.serializeBytes() form.
func DLSNFromBytes(b []byte) (DLSN, error) {
	if len(b) != DLSNBytesLen {
		return DLSN{}, fmt.Errorf("dlog: a serialized DLSN is %d bytes, got %d", DLSNBytesLen, len(b))
	}
	if b[0] != dlsnVersion {
		return DLSN{}, fmt.Errorf("dlog: serialized DLSN version %d is not supported (only %d)", b[0], dlsnVersion)
	}
	return DLSN{
		Segment: int64(binary.BigEndian.Uint64(b[1:])),
		Entry:   int64(binary.BigEndian.Uint64(b[9:])),
		Slot:    int64(binary.BigEndian.Uint64(b[17:])),
	}, nil
}

// DLSNFromBase64 parses DistributedLog's DLSN.serialize() string form.
func DLSNFromBase64(s string) (DLSN, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return DLSN{}, fmt.Errorf("dlog: %q is not base64: %w", s, err)
	}
	return DLSNFromBytes(b)
}

// ParseDLSN accepts "segment/entry/slot" (as String prints it) or the base64 form.
func ParseDLSN(s string) (DLSN, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		d, err := DLSNFromBase64(s)
		if err != nil {
			return DLSN{}, fmt.Errorf("dlog: %q is not a DLSN: use segment/entry/slot (1/42/0) or DistributedLog's base64 form", s)
		}
		return d, nil
	}
	var fields [3]int64
	for i, part := range parts {
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return DLSN{}, fmt.Errorf("dlog: %q is not a DLSN: %q is not an int64", s, part)
		}
		fields[i] = n
	}
	return DLSN{fields[0], fields[1], fields[2]}, nil
}

// MarshalText writes String(), so DLSNs read well in JSON and logs.
func (d DLSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText accepts what ParseDLSN accepts.
func (d *DLSN) UnmarshalText(text []byte) error {
	parsed, err := ParseDLSN(string(text))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// MarshalBinary writes the 25-byte DistributedLog form.
func (d DLSN) MarshalBinary() ([]byte, error) { return d.Bytes(), nil }

// UnmarshalBinary reads the 25-byte DistributedLog form.
func (d *DLSN) UnmarshalBinary(b []byte) error {
	parsed, err := DLSNFromBytes(b)
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// fromWire converts a wire DLSN; nil (unset) becomes the zero DLSN.
func fromWire(w *dlogv1.DLSN) DLSN {
	if w == nil {
		return DLSN{}
	}
	return DLSN{w.Segment, w.Entry, w.Slot}
}

func (d DLSN) wire() *dlogv1.DLSN {
	return &dlogv1.DLSN{Segment: d.Segment, Entry: d.Entry, Slot: d.Slot}
}

// wireOrNil leaves the zero DLSN unset on the wire.
func (d DLSN) wireOrNil() *dlogv1.DLSN {
	if d.IsZero() {
		return nil
	}
	return d.wire()
}
