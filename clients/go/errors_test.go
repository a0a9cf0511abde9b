package dlog

import (
	"context"
	"errors"
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
