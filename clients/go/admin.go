package dlog

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// LogInfo describes a log. DLSNs are zero when the log holds no records.
type LogInfo struct {
	Log                  string
	Created              time.Time
	FirstDLSN            DLSN
	LastDLSN             DLSN
	LastTxID             int64
	RecordCount          int64
	ByteCount            int64
	NextSequenceID       int64
	TruncatedRecordCount int64
	Segments             []SegmentInfo
}

// SegmentInfo describes one segment of a log.
type SegmentInfo struct {
	Segment     int64
	FirstDLSN   DLSN
	LastDLSN    DLSN
	RecordCount int64
	ByteCount   int64
	FirstTxID   int64
	LastTxID    int64
	Created     time.Time
	LastAppend  time.Time
	Open        bool
}

// ReaderInfo is a reader's stored position: delivery resumes strictly after
// Floor, skipping the acked Holes above it.
type ReaderInfo struct {
	Log      string
	ReaderID string
	Floor    DLSN
	Holes    []DLSN
	Lag      int64
	Live     bool
	Epoch    uint64
	Updated  time.Time
	// DeliveredHigh: records up to it come again with attempt >= 2; zero when none.
	DeliveredHigh DLSN
}

// TruncateResult says what Truncate removed.
type TruncateResult struct {
	SegmentsDeleted int64
	RecordsDeleted  int64
	// FirstDLSN is the first record that still exists; zero when none does.
	FirstDLSN DLSN
}

// Input is one record to append.
type Input struct {
	Payload []byte
	// TxID is the record's transaction id, non-decreasing per log; 0 lets the
	// server assign max(last txid, now in ms).
	TxID int64
}

func (in Input) wire() *dlogv1.RecordInput {
	r := &dlogv1.RecordInput{Payload: in.Payload}
	if in.TxID != 0 {
		txid := in.TxID
		r.Txid = &txid
	}
	return r
}

func wireInputs(inputs []Input) []*dlogv1.RecordInput {
	out := make([]*dlogv1.RecordInput, len(inputs))
	for i, in := range inputs {
		out[i] = in.wire()
	}
	return out
}

func dlsnsOf(ws []*dlogv1.DLSN) []DLSN {
	out := make([]DLSN, len(ws))
	for i, w := range ws {
		out[i] = fromWire(w)
	}
	return out
}

// Append appends the records to one entry, in consecutive slots, and returns
// their DLSNs once written (and fsynced unless the server runs --no-fsync).
// For many small appends use an Appender.
func (c *Client) Append(ctx context.Context, log string, records ...Input) ([]DLSN, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.logs.Append(ctx, &dlogv1.AppendRequest{Log: log, Records: wireInputs(records)})
	if err != nil {
		return nil, wrapError(err)
	}
	return dlsnsOf(resp.Dlsns), nil
}

// ReadOptions shape a stateless Read.
type ReadOptions struct {
	From      Position // unset: Earliest
	Max       int64    // stop after this many records; 0 = no limit
	Follow    bool     // keep waiting for new records at the end of the log
	BatchSize uint32   // records per response message; 0 = the server's default
}

// Read streams records without keeping any reader position (tools, replays).
// Stop ranging to end the call; an error ends the sequence.
//
//	for rec, err := range client.Read(ctx, "orders", dlog.ReadOptions{Max: 10}) { ... }
func (c *Client) Read(ctx context.Context, log string, opts ReadOptions) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.logs.Read(ctx, &dlogv1.ReadRequest{
			Log: log, Start: opts.From.wire(), MaxRecords: opts.Max, Follow: opts.Follow, MaxBatchRecords: opts.BatchSize,
		})
		if err != nil {
			yield(nil, wrapError(err))
			return
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, wrapError(err))
				return
			}
			records := make([]Record, len(resp.Records))
			for i, w := range resp.Records {
				fillRecord(&records[i], w)
				if !yield(&records[i], nil) {
					return
				}
			}
		}
	}
}

// CreateLog creates an empty log (ErrLogExists if it exists).
func (c *Client) CreateLog(ctx context.Context, log string) (LogInfo, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	info, err := c.logs.CreateLog(ctx, &dlogv1.CreateLogRequest{Log: log})
	if err != nil {
		return LogInfo{}, wrapError(err)
	}
	return logInfo(info), nil
}

// DeleteLog deletes a log with its records and readers; it returns the number of records deleted.
func (c *Client) DeleteLog(ctx context.Context, log string) (int64, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.logs.DeleteLog(ctx, &dlogv1.DeleteLogRequest{Log: log})
	if err != nil {
		return 0, wrapError(err)
	}
	return resp.RecordsDeleted, nil
}

// GetLog describes a log.
func (c *Client) GetLog(ctx context.Context, log string) (LogInfo, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	info, err := c.logs.GetLog(ctx, &dlogv1.GetLogRequest{Log: log})
	if err != nil {
		return LogInfo{}, wrapError(err)
	}
	return logInfo(info), nil
}

// ListLogs lists the logs whose name starts with prefix (every page).
func (c *Client) ListLogs(ctx context.Context, prefix string) ([]LogInfo, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	var out []LogInfo
	for token := ""; ; {
		resp, err := c.logs.ListLogs(ctx, &dlogv1.ListLogsRequest{Prefix: prefix, PageToken: token})
		if err != nil {
			return nil, wrapError(err)
		}
		for _, info := range resp.Logs {
			out = append(out, logInfo(info))
		}
		if token = resp.NextPageToken; token == "" {
			return out, nil
		}
	}
}

// Truncate drops the whole segments that lie before `before`; force allows a
// DLSN after the log's head (dropping every record).
func (c *Client) Truncate(ctx context.Context, log string, before DLSN, force bool) (TruncateResult, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.logs.Truncate(ctx, &dlogv1.TruncateRequest{Log: log, Before: before.wire(), Force: force})
	if err != nil {
		return TruncateResult{}, wrapError(err)
	}
	return TruncateResult{SegmentsDeleted: resp.SegmentsDeleted, RecordsDeleted: resp.RecordsDeleted, FirstDLSN: fromWire(resp.FirstDlsn)}, nil
}

// GetPosition returns a reader's stored position (ErrReaderNotFound if it has none).
func (c *Client) GetPosition(ctx context.Context, log, readerID string) (ReaderInfo, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	info, err := c.readers.GetPosition(ctx, &dlogv1.GetPositionRequest{Log: log, ReaderId: readerID})
	if err != nil {
		return ReaderInfo{}, wrapError(err)
	}
	return readerInfo(info), nil
}

// SetPosition re-positions a reader (where it starts next time, inclusive);
// force also ends a live session (ABORTED, READER_REPOSITIONED).
func (c *Client) SetPosition(ctx context.Context, log, readerID string, at Position, force bool) (ReaderInfo, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	info, err := c.readers.SetPosition(ctx, &dlogv1.SetPositionRequest{Log: log, ReaderId: readerID, Position: at.wire(), Force: force})
	if err != nil {
		return ReaderInfo{}, wrapError(err)
	}
	return readerInfo(info), nil
}

// ListReaders lists a log's readers (every page).
func (c *Client) ListReaders(ctx context.Context, log string) ([]ReaderInfo, error) {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	var out []ReaderInfo
	for token := ""; ; {
		resp, err := c.readers.ListReaders(ctx, &dlogv1.ListReadersRequest{Log: log, PageToken: token})
		if err != nil {
			return nil, wrapError(err)
		}
		for _, info := range resp.Readers {
			out = append(out, readerInfo(info))
		}
		if token = resp.NextPageToken; token == "" {
			return out, nil
		}
	}
}

// DeleteReader deletes a reader's stored position; force also ends a live session.
func (c *Client) DeleteReader(ctx context.Context, log, readerID string, force bool) error {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	_, err := c.readers.DeleteReader(ctx, &dlogv1.DeleteReaderRequest{Log: log, ReaderId: readerID, Force: force})
	return wrapError(err)
}

func logInfo(w *dlogv1.LogInfo) LogInfo {
	info := LogInfo{
		Log: w.Log, Created: millis(w.CreatedTimeMs), FirstDLSN: fromWire(w.FirstDlsn), LastDLSN: fromWire(w.LastDlsn),
		LastTxID: w.LastTxid, RecordCount: w.RecordCount, ByteCount: w.ByteCount, NextSequenceID: w.NextSequenceId,
		TruncatedRecordCount: w.TruncatedRecordCount,
	}
	for _, s := range w.Segments {
		info.Segments = append(info.Segments, SegmentInfo{
			Segment: s.Segment, FirstDLSN: fromWire(s.FirstDlsn), LastDLSN: fromWire(s.LastDlsn), RecordCount: s.RecordCount,
			ByteCount: s.ByteCount, FirstTxID: s.FirstTxid, LastTxID: s.LastTxid, Created: millis(s.CreatedTimeMs),
			LastAppend: millis(s.LastAppendTimeMs), Open: s.Open,
		})
	}
	return info
}

func readerInfo(w *dlogv1.ReaderInfo) ReaderInfo {
	return ReaderInfo{
		Log: w.Log, ReaderID: w.ReaderId, Floor: fromWire(w.Floor), Holes: dlsnsOf(w.Holes), Lag: w.Lag, Live: w.Live,
		Epoch: w.Epoch, Updated: millis(w.UpdatedTimeMs), DeliveredHigh: fromWire(w.DeliveredHigh),
	}
}
