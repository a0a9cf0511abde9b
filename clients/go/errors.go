package dlog

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of dlog's errors.
const ErrorDomain = "dlog.v1"

// Reason is the stable google.rpc.ErrorInfo reason of a refusal: branch on it
// (with errors.Is and the Err* values below, or Error.Reason), not on messages.
type Reason string

// The contract's reasons; the repository README lists each with its code and metadata.
const (
	ReasonInvalidRequest         Reason = "INVALID_REQUEST"
	ReasonInvalidName            Reason = "INVALID_NAME"
	ReasonInvalidDLSN            Reason = "INVALID_DLSN"
	ReasonSessionProtocol        Reason = "SESSION_PROTOCOL"
	ReasonDLSNNotDelivered       Reason = "DLSN_NOT_DELIVERED"
	ReasonLogNotFound            Reason = "LOG_NOT_FOUND"
	ReasonLogExists              Reason = "LOG_EXISTS"
	ReasonLogDeleted             Reason = "LOG_DELETED"
	ReasonReaderNotFound         Reason = "READER_NOT_FOUND"
	ReasonReaderLive             Reason = "READER_LIVE"
	ReasonReaderFenced           Reason = "READER_FENCED"
	ReasonReaderRepositioned     Reason = "READER_REPOSITIONED"
	ReasonReaderDeleted          Reason = "READER_DELETED"
	ReasonTxIDOutOfOrder         Reason = "TXID_OUT_OF_ORDER"
	ReasonProducerSequenceGap    Reason = "PRODUCER_SEQUENCE_GAP"
	ReasonProducerSequenceReused Reason = "PRODUCER_SEQUENCE_REUSED"
	ReasonProducerSequenceTooOld Reason = "PRODUCER_SEQUENCE_TOO_OLD"
	ReasonPositionOutOfRange     Reason = "POSITION_OUT_OF_RANGE"
	ReasonLimitExceeded          Reason = "LIMIT_EXCEEDED"
	ReasonDiskFull               Reason = "DISK_FULL"
	ReasonStorageUnavailable     Reason = "STORAGE_UNAVAILABLE"
	ReasonShuttingDown           Reason = "SHUTTING_DOWN"
	ReasonUnauthenticated        Reason = "UNAUTHENTICATED"
	ReasonPermissionDenied       Reason = "PERMISSION_DENIED"
	ReasonServiceNotFound        Reason = "SERVICE_NOT_FOUND"
	ReasonInternal               Reason = "INTERNAL"
)

// Error is a failed dlog call: the gRPC status code, the ErrorInfo reason and
// metadata (empty when the server sent none), and the server's message.
//
// errors.Is(err, ErrReaderFenced) matches by reason; errors.Is(err,
// context.DeadlineExceeded) and context.Canceled match the matching codes;
// status.Code(err) and status.FromError(err) work too.
type Error struct {
	Code     codes.Code
	Reason   Reason
	Message  string
	Metadata map[string]string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("dlog: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("dlog: %s (%s): %s", e.Code, e.Reason, e.Message)
}

// GRPCStatus makes status.Code and status.FromError see the original code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Is matches a target *Error by its Reason when it has one, else by its Code,
// and the context package's errors by the matching codes.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	case context.Canceled:
		return e.Code == codes.Canceled
	}
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Reason != "" {
		return e.Reason == t.Reason
	}
	return t.Code != codes.OK && e.Code == t.Code
}

// Values to match with errors.Is, one per reason.
var (
	ErrInvalidRequest         = &Error{Code: codes.InvalidArgument, Reason: ReasonInvalidRequest}
	ErrInvalidName            = &Error{Code: codes.InvalidArgument, Reason: ReasonInvalidName}
	ErrInvalidDLSN            = &Error{Code: codes.InvalidArgument, Reason: ReasonInvalidDLSN}
	ErrSessionProtocol        = &Error{Code: codes.InvalidArgument, Reason: ReasonSessionProtocol}
	ErrDLSNNotDelivered       = &Error{Code: codes.InvalidArgument, Reason: ReasonDLSNNotDelivered}
	ErrLogNotFound            = &Error{Code: codes.NotFound, Reason: ReasonLogNotFound}
	ErrLogExists              = &Error{Code: codes.AlreadyExists, Reason: ReasonLogExists}
	ErrLogDeleted             = &Error{Code: codes.NotFound, Reason: ReasonLogDeleted}
	ErrReaderNotFound         = &Error{Code: codes.NotFound, Reason: ReasonReaderNotFound}
	ErrReaderLive             = &Error{Code: codes.AlreadyExists, Reason: ReasonReaderLive}
	ErrReaderFenced           = &Error{Code: codes.Aborted, Reason: ReasonReaderFenced}
	ErrReaderRepositioned     = &Error{Code: codes.Aborted, Reason: ReasonReaderRepositioned}
	ErrReaderDeleted          = &Error{Code: codes.Aborted, Reason: ReasonReaderDeleted}
	ErrTxIDOutOfOrder         = &Error{Code: codes.FailedPrecondition, Reason: ReasonTxIDOutOfOrder}
	ErrProducerSequenceGap    = &Error{Code: codes.FailedPrecondition, Reason: ReasonProducerSequenceGap}
	ErrProducerSequenceReused = &Error{Code: codes.FailedPrecondition, Reason: ReasonProducerSequenceReused}
	ErrProducerSequenceTooOld = &Error{Code: codes.FailedPrecondition, Reason: ReasonProducerSequenceTooOld}
	ErrPositionOutOfRange     = &Error{Code: codes.OutOfRange, Reason: ReasonPositionOutOfRange}
	ErrLimitExceeded          = &Error{Code: codes.ResourceExhausted, Reason: ReasonLimitExceeded}
	ErrDiskFull               = &Error{Code: codes.ResourceExhausted, Reason: ReasonDiskFull}
	ErrStorageUnavailable     = &Error{Code: codes.Unavailable, Reason: ReasonStorageUnavailable}
	ErrShuttingDown           = &Error{Code: codes.Unavailable, Reason: ReasonShuttingDown}
	ErrUnauthenticated        = &Error{Code: codes.Unauthenticated, Reason: ReasonUnauthenticated}
	ErrPermissionDenied       = &Error{Code: codes.PermissionDenied, Reason: ReasonPermissionDenied}
	ErrServiceNotFound        = &Error{Code: codes.NotFound, Reason: ReasonServiceNotFound}
	ErrInternal               = &Error{Code: codes.Internal, Reason: ReasonInternal}
)

// sentinels lists the Err* values above, for the test that compares them with the server's reasons.
var sentinels = []*Error{
	ErrInvalidRequest, ErrInvalidName, ErrInvalidDLSN, ErrSessionProtocol, ErrDLSNNotDelivered, ErrLogNotFound,
	ErrLogExists, ErrLogDeleted, ErrReaderNotFound, ErrReaderLive, ErrReaderFenced, ErrReaderRepositioned,
	ErrReaderDeleted, ErrTxIDOutOfOrder, ErrProducerSequenceGap, ErrProducerSequenceReused, ErrProducerSequenceTooOld,
	ErrPositionOutOfRange, ErrLimitExceeded, ErrDiskFull, ErrStorageUnavailable, ErrShuttingDown, ErrUnauthenticated,
	ErrPermissionDenied, ErrServiceNotFound, ErrInternal,
}

// ErrClosed is returned by a Reader or Appender used after Close.
var ErrClosed = errors.New("dlog: closed")

// WrapError turns an error of the generated clients (gen/dlog/v1) into an
// *Error carrying the ErrorInfo detail; nil stays nil, and errors that are not
// gRPC statuses pass through. This package's own calls do it already.
func WrapError(err error) error { return wrapError(err) }

func wrapError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message()}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			e.Reason = Reason(info.GetReason())
			e.Metadata = info.GetMetadata()
			break
		}
	}
	return e
}

// appendError is AppendStream's per-append failure as an *Error.
func appendError(w *dlogv1.AppendError) *Error {
	return &Error{Code: codes.Code(w.GetCode()), Reason: Reason(w.GetReason()), Message: w.GetMessage(), Metadata: w.GetMetadata()}
}
