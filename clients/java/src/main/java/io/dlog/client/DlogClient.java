package io.dlog.client;

import com.google.protobuf.ByteString;
import io.dlog.v1.AppendRequest;
import io.dlog.v1.AppendResponse;
import io.dlog.v1.CreateLogRequest;
import io.dlog.v1.DeleteLogRequest;
import io.dlog.v1.DeleteReaderRequest;
import io.dlog.v1.GetLogRequest;
import io.dlog.v1.GetPositionRequest;
import io.dlog.v1.ListLogsRequest;
import io.dlog.v1.ListLogsResponse;
import io.dlog.v1.ListReadersRequest;
import io.dlog.v1.ListReadersResponse;
import io.dlog.v1.LogInfo;
import io.dlog.v1.LogServiceGrpc;
import io.dlog.v1.ReadRequest;
import io.dlog.v1.ReadResponse;
import io.dlog.v1.ReaderInfo;
import io.dlog.v1.ReaderServiceGrpc;
import io.dlog.v1.Record;
import io.dlog.v1.RecordInput;
import io.dlog.v1.SetPositionRequest;
import io.dlog.v1.TruncateRequest;
import io.dlog.v1.TruncateResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A connection to one dlogd: appends, reads, admin, and at-least-once {@link Reader}s. The channel
 * connects lazily, on the first call. Thread-safe; share one per server.
 *
 * <pre>{@code
 * try (DlogClient client = DlogClient.builder("127.0.0.1:7070").token(System.getenv("DLOG_TOKEN")).build()) {
 *   List<DLSN> dlsns = client.append("orders", "a".getBytes(UTF_8), "b".getBytes(UTF_8));
 * }
 * }</pre>
 *
 * Every failure is a {@link DlogException} carrying the status code and the server's reason.
 */
public final class DlogClient implements AutoCloseable {
  private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final ScheduledExecutorService scheduler;
  /** Weak: an appender or reader dropped by the application has nothing left to end. */
  private final WeakHashMap<ClosesWithClient, Boolean> made = new WeakHashMap<>();
  private final Duration callTimeout;
  private final LogServiceGrpc.LogServiceBlockingStub logs;
  private final LogServiceGrpc.LogServiceStub logsAsync;
  private final ReaderServiceGrpc.ReaderServiceBlockingStub readers;
  private final ReaderServiceGrpc.ReaderServiceStub readersAsync;

  /** How to reach dlogd. */
  public static final class Builder {
    private final String address;
    private String token;
    private TlsOptions tls;
    private Duration callTimeout;
    private Duration keepalive = Duration.ofSeconds(30);

    private Builder(String address) {
      this.address = Objects.requireNonNull(address, "address");
    }

    /** A bearer token sent with every call ({@code authorization: Bearer ...}). Null: none. */
    public Builder token(String token) {
      this.token = token == null || token.isEmpty() ? null : token;
      return this;
    }

    /** TLS, or mutual TLS with a client certificate. Default: plaintext. */
    public Builder tls(TlsOptions tls) {
      this.tls = tls;
      return this;
    }

    /** The deadline of unary calls (admin, {@code append}). Default: none. */
    public Builder callTimeout(Duration timeout) {
      this.callTimeout = timeout;
      return this;
    }

    /** HTTP/2 keepalive ping interval (default 30 s; the server allows one per 5 s). */
    public Builder keepalive(Duration interval) {
      this.keepalive = Objects.requireNonNull(interval);
      return this;
    }

    public DlogClient build() {
      return new DlogClient(this);
    }
  }

  /** Connects to {@code host:port}. */
  public static Builder builder(String address) {
    return new Builder(address);
  }

  /** A plaintext client of {@code host:port} with the defaults. */
  public static DlogClient connect(String address) {
    return builder(address).build();
  }

  private DlogClient(Builder builder) {
    ManagedChannelBuilder<?> channelBuilder = Grpc.newChannelBuilder(builder.address, credentials(builder.tls))
        // Record batches may carry records up to the server's record limit (configurable beyond 1 MiB).
        .maxInboundMessageSize(256 << 20)
        .keepAliveTime(builder.keepalive.toMillis(), TimeUnit.MILLISECONDS)
        .keepAliveTimeout(10, TimeUnit.SECONDS)
        .keepAliveWithoutCalls(true);
    if (builder.tls != null && builder.tls.serverName != null) channelBuilder.overrideAuthority(builder.tls.serverName);
    if (builder.token != null) channelBuilder.intercept(bearer(builder.token));
    this.channel = channelBuilder.build();
    this.callTimeout = builder.callTimeout;
    this.scheduler = Executors.newSingleThreadScheduledExecutor(runnable -> {
      Thread thread = new Thread(runnable, "dlog-client-timer");
      thread.setDaemon(true);
      return thread;
    });
    this.logs = LogServiceGrpc.newBlockingStub(channel);
    this.logsAsync = LogServiceGrpc.newStub(channel);
    this.readers = ReaderServiceGrpc.newBlockingStub(channel);
    this.readersAsync = ReaderServiceGrpc.newStub(channel);
  }

  private static ChannelCredentials credentials(TlsOptions tls) {
    if (tls == null) return InsecureChannelCredentials.create();
    try {
      TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
      if (tls.ca != null) builder.trustManager(tls.ca.toFile());
      if (tls.certChain != null) builder.keyManager(tls.certChain.toFile(), tls.privateKey.toFile());
      return builder.build();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the TLS files: " + e.getMessage(), e);
    }
  }

  private static ClientInterceptor bearer(String token) {
    String value = "Bearer " + token;
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
          @Override
          public void start(Listener<R> listener, Metadata headers) {
            headers.put(AUTHORIZATION, value);
            super.start(listener, headers);
          }
        };
      }
    };
  }

  /** The stub with this client's deadline, if it has one. */
  private <S extends AbstractStub<S>> S timed(S stub) {
    return callTimeout == null ? stub : stub.withDeadlineAfter(callTimeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  private static <T> T call(Supplier<T> rpc) {
    try {
      return rpc.get();
    } catch (StatusRuntimeException e) {
      throw DlogException.from(e);
    }
  }

  private static AppendRequest appendRequest(String log, List<byte[]> payloads) {
    AppendRequest.Builder request = AppendRequest.newBuilder().setLog(log);
    for (byte[] payload : payloads) request.addRecords(RecordInput.newBuilder().setPayload(ByteString.copyFrom(payload)));
    return request.build();
  }

  private static List<DLSN> dlsns(AppendResponse response) {
    List<DLSN> result = new ArrayList<>(response.getDlsnsCount());
    for (io.dlog.v1.DLSN dlsn : response.getDlsnsList()) result.add(DLSN.fromProto(dlsn));
    return result;
  }

  /**
   * Appends the records to one entry, in consecutive slots, and returns their DLSNs once written
   * (and fsynced unless the server runs --no-fsync).
   */
  public List<DLSN> append(String log, byte[]... payloads) {
    return append(log, List.of(payloads));
  }

  public List<DLSN> append(String log, List<byte[]> payloads) {
    return call(() -> dlsns(timed(logs).append(appendRequest(log, payloads))));
  }

  /** {@link #append(String, List)} without blocking. */
  public CompletableFuture<List<DLSN>> appendAsync(String log, List<byte[]> payloads) {
    CompletableFuture<List<DLSN>> result = new CompletableFuture<>();
    timed(logsAsync).append(appendRequest(log, payloads), new StreamObserver<>() {
      @Override
      public void onNext(AppendResponse response) {
        result.complete(dlsns(response));
      }

      @Override
      public void onError(Throwable error) {
        result.completeExceptionally(DlogException.from(error));
      }

      @Override
      public void onCompleted() {}
    });
    return result;
  }

  /** A pipelined producer on one AppendStream, with the default batching and bounds. */
  public Appender appender(String log) {
    return appender(log, AppenderOptions.defaults());
  }

  public Appender appender(String log, AppenderOptions options) {
    return made(new Appender(logsAsync, channel, scheduler, log, options));
  }

  /** An at-least-once reader; its first session opens at once. */
  public Reader reader(ReaderOptions options) {
    return made(new Reader(readersAsync, channel, scheduler, options));
  }

  /** A stateless read of up to {@code maxRecords} records (0: to the end of the log); no position is kept. */
  public List<LogRecord> read(String log, StartAt from, long maxRecords) {
    return call(() -> {
      ReadRequest.Builder request = ReadRequest.newBuilder().setLog(log).setMaxRecords(maxRecords);
      if (from != null) request.setStart(from.toProto());
      List<LogRecord> result = new ArrayList<>();
      Iterator<ReadResponse> responses = timed(logs).read(request.build());
      while (responses.hasNext()) {
        for (Record record : responses.next().getRecordsList()) result.add(new LogRecord(record));
      }
      return result;
    });
  }

  /** Creates an empty log; {@link DlogException.AlreadyExists} (LOG_EXISTS) if it exists. */
  public LogInfo createLog(String log) {
    return call(() -> timed(logs).createLog(CreateLogRequest.newBuilder().setLog(log).build()));
  }

  /** Deletes a log, its records and readers; returns the number of records deleted. */
  public long deleteLog(String log) {
    return call(() -> timed(logs).deleteLog(DeleteLogRequest.newBuilder().setLog(log).build()).getRecordsDeleted());
  }

  public LogInfo getLog(String log) {
    return call(() -> timed(logs).getLog(GetLogRequest.newBuilder().setLog(log).build()));
  }

  /** Every log whose name starts with {@code prefix} (all pages). */
  public List<LogInfo> listLogs(String prefix) {
    return call(() -> {
      List<LogInfo> result = new ArrayList<>();
      String token = "";
      do {
        ListLogsResponse page = timed(logs).listLogs(ListLogsRequest.newBuilder().setPrefix(prefix).setPageToken(token).build());
        result.addAll(page.getLogsList());
        token = page.getNextPageToken();
      } while (!token.isEmpty());
      return result;
    });
  }

  /** Drops the whole segments that lie before {@code before}. */
  public TruncateResponse truncate(String log, DLSN before) {
    return call(() -> timed(logs).truncate(TruncateRequest.newBuilder().setLog(log).setBefore(before.toProto()).build()));
  }

  /** A reader's stored position; {@link DlogException.NotFound} (READER_NOT_FOUND) when it has none. */
  public ReaderInfo getPosition(String log, String readerId) {
    return call(() -> timed(readers).getPosition(GetPositionRequest.newBuilder().setLog(log).setReaderId(readerId).build()));
  }

  /** Re-positions a reader (where it starts next time, inclusive); {@code force} ends a live session. */
  public ReaderInfo setPosition(String log, String readerId, StartAt position, boolean force) {
    return call(() -> timed(readers).setPosition(SetPositionRequest.newBuilder()
        .setLog(log).setReaderId(readerId).setPosition(position.toProto()).setForce(force).build()));
  }

  /** Every reader of the log (all pages). */
  public List<ReaderInfo> listReaders(String log) {
    return call(() -> {
      List<ReaderInfo> result = new ArrayList<>();
      String token = "";
      do {
        ListReadersResponse page = timed(readers).listReaders(ListReadersRequest.newBuilder().setLog(log).setPageToken(token).build());
        result.addAll(page.getReadersList());
        token = page.getNextPageToken();
      } while (!token.isEmpty());
      return result;
    });
  }

  public void deleteReader(String log, String readerId, boolean force) {
    call(() -> timed(readers).deleteReader(DeleteReaderRequest.newBuilder().setLog(log).setReaderId(readerId).setForce(force).build()));
  }

  /** The generated blocking stubs and the channel, for anything not wrapped here. */
  public LogServiceGrpc.LogServiceBlockingStub logs() {
    return logs;
  }

  public ReaderServiceGrpc.ReaderServiceBlockingStub readers() {
    return readers;
  }

  public ManagedChannel channel() {
    return channel;
  }

  /** An appender or reader that close() must end: what waits in it for the scheduler would wait forever. */
  interface ClosesWithClient {
    void clientClosed();
  }

  private <T extends ClosesWithClient> T made(T appenderOrReader) {
    synchronized (made) {
      made.put(appenderOrReader, Boolean.TRUE);
    }
    return appenderOrReader;
  }

  /** Closes the channel; calls in progress fail. Close readers (drain) and appenders first. */
  @Override
  public void close() {
    // First no more scheduling (a break the channel's close causes is refused its reconnect and
    // fails at once), then every appender and reader fails what waited for a dropped reconnect.
    scheduler.shutdownNow();
    List<ClosesWithClient> open;
    synchronized (made) {
      open = new ArrayList<>(made.keySet());
    }
    for (ClosesWithClient each : open) each.clientClosed();
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }
}
