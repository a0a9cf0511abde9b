package dlog

import (
	"context"
	"testing"
	"time"
)

func TestBudgetWaitsInOrderAndLetsAnOversizedRequestGoAlone(t *testing.T) {
	b := budget{max: 100}
	ctx := context.Background()
	if err := b.acquire(ctx, 500); err != nil { // larger than the budget, but nothing else holds any
		t.Fatal(err)
	}
	granted := make(chan int, 2)
	for i, n := range []int64{60, 60} {
		go func() {
			if err := b.acquire(ctx, n); err == nil {
				granted <- i
			}
		}()
		time.Sleep(20 * time.Millisecond) // queue them in this order
	}
	select {
	case i := <-granted:
		t.Fatalf("waiter %d got room while the budget was full", i)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(500)
	if first := <-granted; first != 0 {
		t.Fatalf("waiter %d got room first, want arrival order", first)
	}
	select {
	case <-granted:
		t.Fatal("the second waiter got room that the first one holds")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	<-granted
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(short, 50); err == nil {
		t.Fatal("acquire beyond the budget did not wait")
	}
	b.release(60)
	if b.used != 0 || len(b.waiters) != 0 {
		t.Fatalf("used %d, %d waiters after everything was released", b.used, len(b.waiters))
	}
}
