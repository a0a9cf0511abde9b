package dlog

import (
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// When a Reader opens a new session after losing one (retryable) and how long
// it waits first (ReconnectPolicy, backoff).

// ReconnectPolicy says how a Reader retries a lost session: exponential
// backoff with full jitter (a uniform delay in [0, cap]), so readers that lost
// the same server spread out instead of returning in lock-step. Zero fields
// take the defaults.
type ReconnectPolicy struct {
	// Disabled: a lost session fails the reader (Next returns the error).
	Disabled bool
	// InitialDelay caps the first delay. Default 50 ms.
	InitialDelay time.Duration
	// MaxDelay caps every delay. Default 5 s.
	MaxDelay time.Duration
	// Multiplier grows the cap per failed attempt. Default 2.
	Multiplier float64
	// MaxAttempts gives up after this many consecutive failed attempts. Default: no limit.
	MaxAttempts int
	// MaxElapsed gives up once the session has been down this long. Default 60 s.
	MaxElapsed time.Duration
}

type backoff struct {
	policy   ReconnectPolicy
	attempts int
	since    time.Time
	random   func() float64
	now      func() time.Time
}

func newBackoff(p ReconnectPolicy) *backoff {
	if p.InitialDelay <= 0 {
		p.InitialDelay = 50 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 5 * time.Second
	}
	if p.MaxDelay < p.InitialDelay {
		p.MaxDelay = p.InitialDelay
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 60 * time.Second
	}
	return &backoff{policy: p, random: rand.Float64, now: time.Now}
}

// next is the delay before the next attempt; false when the budget is spent.
func (b *backoff) next() (time.Duration, bool) {
	if b.attempts == 0 {
		b.since = b.now()
	}
	p := b.policy
	if (p.MaxAttempts > 0 && b.attempts >= p.MaxAttempts) || b.now().Sub(b.since) >= p.MaxElapsed {
		return 0, false
	}
	limit := float64(p.InitialDelay)
	for i := 0; i < b.attempts && limit < float64(p.MaxDelay); i++ {
		limit *= p.Multiplier
	}
	limit = min(limit, float64(p.MaxDelay))
	b.attempts++
	return time.Duration(b.random() * limit), true
}

// reset: a session opened, the next loss starts from the first delay again.
func (b *backoff) reset() { b.attempts = 0 }

// retryable: worth a new session — the server or the network went away. Not:
// fenced (ABORTED), bad input, unknown log, no permission. ALREADY_EXISTS
// after a loss (takeover REJECT) is our own dead session the server has not
// noticed yet.
func retryable(err error, reconnecting bool) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.Canceled: // reset by the server (our own cancels stop the loop first)
		return true
	case codes.Internal:
		msg := strings.ToLower(err.Error())
		return strings.Contains(msg, "rst_stream") || strings.Contains(msg, "connection") || strings.Contains(msg, "transport")
	case codes.AlreadyExists:
		return reconnecting
	}
	return false
}
