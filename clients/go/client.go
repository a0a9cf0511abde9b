// Package dlog is the Go client of dlog: append-only logs and at-least-once
// reader sessions whose positions the server keeps.
//
//	client, err := dlog.New("127.0.0.1:7070")
//	reader, err := client.OpenReader(ctx, dlog.ReaderConfig{Log: "orders", ReaderID: "billing"})
//	for {
//		rec, err := reader.Next(ctx)
//		if err != nil { ... }
//		handle(rec.Payload)
//		reader.Ack(rec)
//	}
//	final, err := reader.Close(ctx) // acks sent, drained, durable
package dlog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	dlogv1 "github.com/dlog-project/dlog/clients/go/gen/dlog/v1"
)

// Client is a connection to one dlogd, safe for concurrent use. Every call
// takes a context: its deadline and cancellation apply to the call.
type Client struct {
	conn        *grpc.ClientConn
	logs        dlogv1.LogServiceClient
	readers     dlogv1.ReaderServiceClient
	callTimeout time.Duration
	// closed ends with Close: readers and appenders stop reconnecting on it.
	closed    chan struct{}
	closeOnce sync.Once
}

type options struct {
	tls         *tls.Config
	tlsErr      error
	token       string
	callTimeout time.Duration
	keepalive   time.Duration
	dial        []grpc.DialOption
}

// Option configures New.
type Option func(*options)

// WithTLS speaks TLS with this configuration (nil: the system roots).
func WithTLS(config *tls.Config) Option {
	return func(o *options) {
		if config == nil {
			config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.tls = config
	}
}

// WithTLSFiles speaks TLS trusting the PEM CA file caFile (empty: the system
// roots); with certFile and keyFile it also presents a client certificate
// (mutual TLS).
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return func(o *options) {
		config := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				o.tlsErr = fmt.Errorf("dlog: reading the CA file: %w", err)
				return
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				o.tlsErr = fmt.Errorf("dlog: %s holds no PEM certificate", caFile)
				return
			}
			config.RootCAs = pool
		}
		if certFile != "" || keyFile != "" {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				o.tlsErr = fmt.Errorf("dlog: loading the client certificate: %w", err)
				return
			}
			config.Certificates = []tls.Certificate{cert}
		}
		o.tls = config
	}
}

// WithBearerToken sends "authorization: Bearer <token>" with every call.
func WithBearerToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithCallTimeout bounds unary calls (admin, Append) whose context has no
// deadline of its own. Streams are not bounded by it.
func WithCallTimeout(d time.Duration) Option {
	return func(o *options) { o.callTimeout = d }
}

// WithKeepalive sets the HTTP/2 ping interval (default 30 s) that detects a
// dead connection under an idle reader.
func WithKeepalive(d time.Duration) Option {
	return func(o *options) { o.keepalive = d }
}

// WithDialOptions adds raw grpc-go dial options, applied last.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// maxMessageBytes: record batches may carry records up to the server's record limit (configurable beyond 1 MiB).
const maxMessageBytes = 256 << 20

// New connects to dlogd at address ("host:port"). Plain text unless a TLS
// option is given. The connection is made lazily, on the first call.
func New(address string, opts ...Option) (*Client, error) {
	o := options{keepalive: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tlsErr != nil {
		return nil, o.tlsErr
	}
	transport := insecure.NewCredentials()
	if o.tls != nil {
		transport = credentials.NewTLS(o.tls)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: o.keepalive, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}
	if o.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{token: o.token}))
	}
	dial = append(dial, o.dial...)
	conn, err := grpc.NewClient(address, dial...)
	if err != nil {
		return nil, fmt.Errorf("dlog: %w", err)
	}
	return &Client{
		conn:        conn,
		logs:        dlogv1.NewLogServiceClient(conn),
		readers:     dlogv1.NewReaderServiceClient(conn),
		callTimeout: o.callTimeout,
		closed:      make(chan struct{}),
	}, nil
}

// Close closes the connection; calls in progress fail. A Reader or Appender
// still open fails with a CANCELLED error instead of reconnecting (what a
// closing connection answers looks like a reset that is worth a retry).
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.conn.Close()
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// clientClosedError ends a Reader or Appender whose Client was closed under it.
func clientClosedError(what string) error {
	return &Error{Code: codes.Canceled, Message: "the Client was closed under this " + what + "; close (drain) readers and appenders before their client"}
}

// Conn is the underlying connection, for the generated clients
// (dlogv1.NewLogServiceClient) or the health service.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// unary applies the default call timeout to a context without a deadline.
func (c *Client) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.callTimeout <= 0 {
		return ctx, func() {}
	}
	if _, has := ctx.Deadline(); has {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.callTimeout)
}

// bearer sends the token with every call. Over plain text too (a loopback or
// a TLS-terminating proxy); say WithTLS to keep it off the network in clear.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return false }

// Health asks the standard grpc.health.v1 service whether dlogd is serving;
// nil when it is. (grpcurl and load balancers use the same service.)
func (c *Client) Health(ctx context.Context) error {
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return wrapError(err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return &Error{Code: codes.Unavailable, Message: "dlogd reports " + resp.Status.String()}
	}
	return nil
}
