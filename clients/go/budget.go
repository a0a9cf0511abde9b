package dlog

import (
	"context"
	"sync"
)

// budget bounds the bytes an Appender holds (lingering, queued and in
// flight): acquire waits, in arrival order, until release makes room. One
// request larger than the whole budget is let through alone, or it would wait
// forever.
type budget struct {
	mu      sync.Mutex
	max     int64
	used    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n       int64
	granted bool
	ch      chan struct{}
}

func (b *budget) fits(n int64) bool { return b.used == 0 || b.used+n <= b.max }

func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.fits(n) {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ch: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	if w.granted {
		b.mu.Unlock()
		b.release(n)
		return ctx.Err()
	}
	for i, other := range b.waiters {
		if other == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.grant()
	b.mu.Unlock()
	return ctx.Err()
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.grant()
	b.mu.Unlock()
}

// grant admits waiters in order while they fit; called with mu held.
func (b *budget) grant() {
	for len(b.waiters) > 0 && b.fits(b.waiters[0].n) {
		w := b.waiters[0]
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.used += w.n
		w.granted = true
		close(w.ch)
	}
}
