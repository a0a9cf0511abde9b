package dlog

import "time"

// What NewAppender accepts: its options and the config they set.

// AppenderOption configures NewAppender.
type AppenderOption func(*appenderConfig)

type appenderConfig struct {
	linger           time.Duration
	maxBatchRecords  int
	maxBatchBytes    int
	maxInFlightBytes int64
	maxInFlight      int
	retry            ReconnectPolicy
	producerID       string
}

// WithLinger sets how long a one-record Append waits for others to share its
// entry (default 2 ms). 0 disables batching: each Append is its own entry.
func WithLinger(d time.Duration) AppenderOption {
	return func(c *appenderConfig) { c.linger = max(d, 0) }
}

// WithMaxBatchRecords caps the records that share one entry (default 1000;
// at most the server's --max-records-per-append).
func WithMaxBatchRecords(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxBatchRecords = max(n, 1) }
}

// WithMaxBatchBytes caps the payload bytes that share one entry (default 1 MiB).
func WithMaxBatchBytes(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxBatchBytes = max(n, 1) }
}

// WithMaxInFlightBytes bounds the payload bytes appended and not yet answered
// (default 8 MiB); past it, appends wait. A larger record still goes alone.
func WithMaxInFlightBytes(n int64) AppenderOption {
	return func(c *appenderConfig) { c.maxInFlightBytes = max(n, 1) }
}

// WithMaxInFlight bounds the append requests sent and not yet answered
// (default 1024). With retries on, keep it at or below the server's
// --producer-window (default 1024), or a resend may be too old to recognise.
func WithMaxInFlight(n int) AppenderOption {
	return func(c *appenderConfig) { c.maxInFlight = max(n, 1) }
}

// WithRetry sets how the appender reconnects when its stream breaks
// (UNAVAILABLE: the server restarted, the connection dropped): with backoff,
// resending every unanswered append. Appends are idempotent (a producer id
// and a sequence number each), so a resend of an append that was written is
// answered with its original DLSNs instead of being written twice. On by
// default; ReconnectPolicy{Disabled: true} turns it off: then unanswered
// appends fail (their outcome is unknown) and none carries a producer id.
func WithRetry(p ReconnectPolicy) AppenderOption {
	return func(c *appenderConfig) { c.retry = p }
}

// WithProducerID sets the producer id of the idempotent appends (default: a
// random one per appender). Never share one between two live appenders.
func WithProducerID(id string) AppenderOption {
	return func(c *appenderConfig) { c.producerID = id }
}
