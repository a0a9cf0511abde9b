package dlog

import (
	"testing"
	"time"
)

func TestBackoffGrowsWithFullJitterAndGivesUp(t *testing.T) {
	b := newBackoff(ReconnectPolicy{InitialDelay: 10 * time.Millisecond, MaxDelay: 40 * time.Millisecond, MaxAttempts: 5})
	b.random = func() float64 { return 1 } // the cap itself
	var got []time.Duration
	for {
		d, ok := b.next()
		if !ok {
			break
		}
		got = append(got, d)
	}
	want := []time.Duration{10, 20, 40, 40, 40}
	if len(got) != len(want) {
		t.Fatalf("delays %v, want %v ms", got, want)
	}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	b.random = func() float64 { return 0.5 }
	b.reset()
	if d, ok := b.next(); !ok || d != 5*time.Millisecond {
		t.Fatalf("after reset: %v, %v; want a jittered first delay of 5ms", d, ok)
	}
}

func TestBackoffStopsAfterMaxElapsed(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBackoff(ReconnectPolicy{MaxElapsed: time.Second})
	b.now = func() time.Time { return now }
	if _, ok := b.next(); !ok {
		t.Fatal("the first attempt was refused")
	}
	now = now.Add(2 * time.Second)
	if _, ok := b.next(); ok {
		t.Fatal("an attempt after MaxElapsed was allowed")
	}
}
