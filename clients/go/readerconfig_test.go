package dlog

import (
	"testing"
	"time"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

func TestReaderConfigRefusesWhatOpenReaderCannotUse(t *testing.T) {
	for name, cfg := range map[string]ReaderConfig{
		"no log":                      {ReaderID: "r"},
		"no reader id":                {Log: "l"},
		"ResumeClient, no checkpoint": {Log: "l", ReaderID: "r", ResumePolicy: ResumeClient},
	} {
		if _, err := cfg.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg, err := ReaderConfig{Log: "l", ReaderID: "r"}.withDefaults()
	if err != nil || cfg.AckInterval != defaultAckInterval {
		t.Fatalf("defaults: %v, AckInterval %v", err, cfg.AckInterval)
	}
	if cfg, _ := (ReaderConfig{Log: "l", ReaderID: "r", AckInterval: -1}).withDefaults(); cfg.AckInterval != -1 {
		t.Fatalf("a negative AckInterval (no wait) became %v", cfg.AckInterval)
	}
}

func TestOpenAppliesTheClientCheckpointOnlyOnTheFirstSession(t *testing.T) {
	cfg := ReaderConfig{Log: "l", ReaderID: "r", Checkpoint: DLSN{Segment: 1, Entry: 7}, ResumePolicy: ResumeMax,
		Takeover: TakeoverReject, AckWait: 1500 * time.Millisecond}
	first := cfg.open(AtDLSN(DLSN{Segment: 1, Entry: 3}), FlowLimits{MaxBatchRecords: 8}, true)
	if first.ResumePolicy != dlogv1.ResumePolicy_RESUME_POLICY_MAX || first.ClientCheckpoint == nil || first.Override == nil {
		t.Fatalf("first open: %v", first)
	}
	if first.Takeover != dlogv1.Takeover_TAKEOVER_REJECT || first.AckWaitMs != 1500 || first.Flow.GetMaxBatchRecords() != 8 {
		t.Fatalf("first open: %v", first)
	}
	again := cfg.open(Position{}, FlowLimits{}, false)
	if again.ResumePolicy != dlogv1.ResumePolicy_RESUME_POLICY_STORED || again.ClientCheckpoint != nil || again.Override != nil {
		t.Fatalf("reconnect open: %v", again)
	}
}
