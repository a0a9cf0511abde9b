package dlog

import (
	"testing"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

func delivered(t *ackTracker, n int) []*Record {
	records := make([]*Record, n)
	for i := range records {
		records[i] = &Record{DLSN: DLSN{1, int64(i), 0}}
		t.delivered(records[i])
	}
	return records
}

func wireEq(w *dlogv1.DLSN, d DLSN) bool { return w != nil && fromWire(w) == d }

func TestAckTrackerCoalescesIntoOneCumulativeAck(t *testing.T) {
	var tr ackTracker
	records := delivered(&tr, 100)
	for _, r := range records {
		tr.ack(r)
	}
	ack, nack := tr.take(1)
	if nack != nil || ack == nil || !wireEq(ack.UpTo, records[99].DLSN) || len(ack.Dlsns) != 0 {
		t.Fatalf("take = %v, %v; want one up_to %v", ack, nack, records[99].DLSN)
	}
	if records[0].ackMsg != 1 || records[99].ackMsg != 1 {
		t.Fatal("the records were not stamped with their ack message")
	}
	if ack, _ := tr.take(2); ack != nil {
		t.Fatalf("a second take sent %v", ack)
	}
}

func TestAckTrackerSendsIndividualAcksAboveAHole(t *testing.T) {
	var tr ackTracker
	records := delivered(&tr, 10)
	for i, r := range records {
		if i != 4 {
			tr.ack(r)
		}
	}
	ack, _ := tr.take(1)
	if !wireEq(ack.UpTo, records[3].DLSN) || len(ack.Dlsns) != 5 {
		t.Fatalf("take = %v; want up_to #3 and 5 individual acks", ack)
	}
	tr.ack(records[4])
	ack, _ = tr.take(2)
	if !wireEq(ack.UpTo, records[9].DLSN) || len(ack.Dlsns) != 0 {
		t.Fatalf("after the hole is acked: %v; want up_to #9 only", ack)
	}
}

func TestAckTrackerSettlesARedeliveryThroughItsFirstDelivery(t *testing.T) {
	var tr ackTracker
	records := delivered(&tr, 3)
	again := &Record{DLSN: records[1].DLSN, Attempt: 2}
	tr.delivered(again)
	if !tr.nack(records[1]) {
		t.Fatal("nack of an unacked record refused")
	}
	if _, nack := tr.take(1); nack == nil || len(nack.Dlsns) != 1 {
		t.Fatalf("nack = %v", nack)
	}
	if !tr.ack(again) || tr.ack(records[1]) {
		t.Fatal("acking a redelivery must settle its first delivery, once")
	}
	if tr.nack(records[1]) {
		t.Fatal("nack of an acked record accepted")
	}
}

func TestAckTrackerTrimsTheSettledWindow(t *testing.T) {
	var tr ackTracker
	records := delivered(&tr, 3*trimAt)
	for _, r := range records {
		tr.ack(r)
	}
	tr.take(1)
	if len(tr.window) != 0 || tr.head != 0 {
		t.Fatalf("window %d, head %d after everything was acked", len(tr.window), tr.head)
	}
}
