package dlog

import (
	"context"
	"errors"
	"os"
	"regexp"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func statusWithReason(t *testing.T, code codes.Code, msg, domain, reason string) error {
	t.Helper()
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: reason, Metadata: map[string]string{"log": "orders"}})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestErrorsMatchReasonsCodesAndContext(t *testing.T) {
	err := wrapError(statusWithReason(t, codes.Aborted, "fenced by a newer session", ErrorDomain, "READER_FENCED"))
	var e *Error
	if !errors.As(err, &e) || e.Code != codes.Aborted || e.Reason != ReasonReaderFenced || e.Metadata["log"] != "orders" {
		t.Fatalf("wrapError = %#v", err)
	}
	if !errors.Is(err, ErrReaderFenced) || errors.Is(err, ErrReaderLive) {
		t.Fatal("errors.Is does not match by reason")
	}
	if !errors.Is(err, &Error{Code: codes.Aborted}) || errors.Is(err, &Error{Code: codes.NotFound}) {
		t.Fatal("errors.Is does not match by code")
	}
	if status.Code(err) != codes.Aborted {
		t.Fatalf("status.Code = %v", status.Code(err))
	}
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, ErrReaderFenced) {
		t.Fatal("a wrapped *Error no longer matches")
	}
	deadline := wrapError(status.Error(codes.DeadlineExceeded, "too slow"))
	if !errors.Is(deadline, context.DeadlineExceeded) || errors.Is(deadline, context.Canceled) {
		t.Fatal("DEADLINE_EXCEEDED does not match context.DeadlineExceeded")
	}
}

func TestErrorsIgnoreOtherDomainsAndPassPlainErrors(t *testing.T) {
	err := wrapError(statusWithReason(t, codes.NotFound, "nope", "example.com", "LOG_NOT_FOUND"))
	var e *Error
	if !errors.As(err, &e) || e.Reason != "" || errors.Is(err, ErrLogNotFound) {
		t.Fatalf("a foreign domain's reason was taken: %#v", err)
	}
	plain := errors.New("plain")
	if wrapError(plain) != plain || wrapError(nil) != nil {
		t.Fatal("non-status errors must pass through")
	}
}

// The server's reasons are listed once, in src/errors.ts (ERROR_REASONS); every one needs its Err* value here.
func TestEveryServerReasonHasAnErrValue(t *testing.T) {
	source, err := os.ReadFile("../../src/errors.ts")
	if err != nil {
		t.Skip("not inside the dlog repository:", err)
	}
	list := regexp.MustCompile(`(?s)ERROR_REASONS = \[(.*?)\] as const`).FindSubmatch(source)
	if list == nil {
		t.Fatal("no ERROR_REASONS list in src/errors.ts")
	}
	ours := map[Reason]bool{}
	for _, e := range sentinels {
		ours[e.Reason] = true
	}
	theirs := regexp.MustCompile(`"([A-Z_]+)"`).FindAllSubmatch(list[1], -1)
	for _, m := range theirs {
		if !ours[Reason(m[1])] {
			t.Errorf("the server's reason %s has no Err value in errors.go", m[1])
		}
	}
	if len(theirs) != len(sentinels) {
		t.Errorf("%d server reasons, %d Err values", len(theirs), len(sentinels))
	}
}
