package io.dlog.testing;

import io.dlog.client.DlogClient;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A throw-away dlogd process for a test: found through {@code DLOG_DLOGD} (a path; one ending in
 * {@code .js} runs with {@code node}), the {@code dlog.dlogd} system property, or {@code dlogd} on
 * the PATH; started on a free loopback port; ready when it logs {@code "dlogd listening"}; stopped
 * and its data removed by {@link #close()}. Most tests use it through {@link DlogdExtension}.
 *
 * <pre>{@code
 * try (DlogdServer server = DlogdServer.start(DlogdServer.options())) {
 *   DlogClient client = server.client();
 * }
 * }</pre>
 */
public final class DlogdServer implements AutoCloseable {
  private static final Pattern ADDRESS = Pattern.compile("\"address\"\\s*:\\s*\"([^\"]+)\"");
  private static final Duration START_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
  private static volatile Boolean inMemorySupported;
  /** Servers still running, stopped by a shutdown hook if the test JVM exits without closing them. */
  private static final java.util.Set<Process> RUNNING = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(Process::destroyForcibly), "dlogd-cleanup"));
  }

  /** How to start the server. */
  public static final class Options {
    Boolean inMemory;
    final List<String> args = new ArrayList<>();

    private Options() {}

    /**
     * Keep nothing on disk ({@code --in-memory}; not durable) — the default when the server
     * supports it. {@code false}: a temp data dir, which {@link #restart()} and kill tests need.
     */
    public Options inMemory(boolean inMemory) {
      this.inMemory = inMemory;
      return this;
    }

    /** A temp data dir that survives {@link #kill()} and {@link #stop()} (for restarts). */
    public Options durable() {
      return inMemory(false);
    }

    /** More dlogd flags, e.g. {@code "--ack-flush-interval", "50ms"}. */
    public Options args(String... flags) {
      args.addAll(List.of(flags));
      return this;
    }
  }

  private final List<String> command;
  private final Path dataDir;
  private final List<String> extraArgs;
  private final boolean inMemory;
  private Process process;
  private String address;
  private final ArrayDeque<String> output = new ArrayDeque<>();
  private final List<DlogClient> clients = new ArrayList<>();

  public static Options options() {
    return new Options();
  }

  /** Starts a server with these options; waits until it is serving. */
  public static DlogdServer start(Options options) {
    List<String> command = dlogdCommand();
    boolean memory = options.inMemory != null ? options.inMemory : supportsInMemory(command);
    Path dataDir = null;
    if (!memory) {
      try {
        dataDir = Files.createTempDirectory("dlogd-test-");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    DlogdServer server = new DlogdServer(command, dataDir, memory, options.args);
    try {
      server.launch("127.0.0.1:0");
    } catch (RuntimeException e) {
      server.deleteData();
      throw e;
    }
    return server;
  }

  private DlogdServer(List<String> command, Path dataDir, boolean inMemory, List<String> extraArgs) {
    this.command = command;
    this.dataDir = dataDir;
    this.inMemory = inMemory;
    this.extraArgs = List.copyOf(extraArgs);
  }

  /** {@code host:port} it serves on. */
  public String address() {
    return address;
  }

  public int port() {
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  /** The data dir, or null with {@code --in-memory}. */
  public Path dataDir() {
    return dataDir;
  }

  public boolean inMemory() {
    return inMemory;
  }

  /** The process id of the server itself (the one a kill hits). */
  public long pid() {
    return process.pid();
  }

  /** A plaintext client of this server, closed with it. */
  public synchronized DlogClient client() {
    DlogClient client = DlogClient.connect(address);
    clients.add(client);
    return client;
  }

  /** SIGKILL: the process dies at once, nothing is flushed. Its data dir stays for {@link #restart()}. */
  public void kill() {
    Process running = process;
    if (running == null) return;
    running.destroyForcibly();
    awaitExit(running, STOP_TIMEOUT);
    process = null;
  }

  /** SIGTERM, waiting for a graceful shutdown (SIGKILL after 10 s). Its data dir stays for {@link #restart()}. */
  public void stop() {
    Process running = process;
    if (running == null) return;
    running.destroy();
    if (!awaitExit(running, STOP_TIMEOUT)) {
      running.destroyForcibly();
      awaitExit(running, STOP_TIMEOUT);
    }
    process = null;
  }

  /** Starts the server again on the same port and data dir (after {@link #kill()} or {@link #stop()}). */
  public void restart() {
    if (inMemory) throw new IllegalStateException("an --in-memory server has nothing to restart from: use options().durable()");
    stop();
    String same = address;
    Deadline deadline = Deadline.after(START_TIMEOUT);
    // The old socket may linger for a moment after a kill: retry while the port is still taken.
    for (;;) {
      try {
        launch(same);
        return;
      } catch (IllegalStateException e) {
        String why = String.valueOf(e.getMessage());
        if (!deadline.pending() || !(why.contains("EADDRINUSE") || why.contains("address in use"))) throw e;
        sleep(50);
      }
    }
  }

  /** Stops the server (SIGTERM), closes the clients it handed out, removes its data. */
  @Override
  public void close() {
    synchronized (this) {
      for (DlogClient client : clients) client.close();
      clients.clear();
    }
    stop();
    deleteData();
  }

  /** What the server wrote on stderr lately, for failure messages. */
  public String recentOutput() {
    synchronized (output) {
      return String.join("\n", output);
    }
  }

  private void launch(String listen) {
    List<String> argv = new ArrayList<>(command);
    argv.add("--listen");
    argv.add(listen);
    if (inMemory) {
      argv.add("--in-memory");
    } else {
      argv.add("--data-dir");
      argv.add(dataDir.toString());
    }
    argv.addAll(extraArgs);
    ProcessBuilder builder = new ProcessBuilder(argv).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    synchronized (output) {
      output.clear();
    }
    Process started;
    try {
      started = builder.start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + String.join(" ", argv) + ": " + e.getMessage(), e);
    }
    CompletableFuture<String> listening = new CompletableFuture<>();
    Thread pump = new Thread(() -> readStderr(started, listening), "dlogd-stderr-" + started.pid());
    pump.setDaemon(true);
    pump.start();
    started.onExit().thenRun(() -> listening.completeExceptionally(
        new IllegalStateException("dlogd exited with " + started.exitValue() + " before serving:\n" + recentOutput())));
    try {
      address = listening.get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      process = started;
      RUNNING.add(started);
      started.onExit().thenRun(() -> RUNNING.remove(started));
    } catch (TimeoutException e) {
      started.destroyForcibly();
      throw new IllegalStateException("dlogd did not report \"dlogd listening\" within " + START_TIMEOUT.toSeconds() + " s:\n" + recentOutput());
    } catch (ExecutionException e) {
      started.destroyForcibly();
      awaitExit(started, STOP_TIMEOUT);
      joinQuietly(pump); // the whole of stderr, for the message
      throw new IllegalStateException("dlogd exited before serving:\n" + recentOutput(), e.getCause());
    } catch (InterruptedException e) {
      started.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting dlogd", e);
    }
  }

  private void readStderr(Process started, CompletableFuture<String> listening) {
    try (BufferedReader lines = new BufferedReader(new InputStreamReader(started.getErrorStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = lines.readLine()) != null; ) {
        synchronized (output) {
          output.addLast(line);
          if (output.size() > 200) output.removeFirst();
        }
        if (!listening.isDone() && line.contains("\"msg\":\"dlogd listening\"")) {
          Matcher matcher = ADDRESS.matcher(line);
          if (matcher.find()) listening.complete(matcher.group(1));
        }
      }
    } catch (IOException e) {
      // The process ended; onExit reports it.
    }
  }

  private static void joinQuietly(Thread thread) {
    try {
      thread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static boolean awaitExit(Process running, Duration timeout) {
    try {
      return running.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private void deleteData() {
    if (dataDir == null || !Files.exists(dataDir)) return;
    try (Stream<Path> paths = Files.walk(dataDir)) {
      paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException e) {
      // Best effort: a temp dir left behind is not worth failing a test for.
    }
  }

  /** How to run dlogd: DLOG_DLOGD, the dlog.dlogd system property, or dlogd on the PATH. */
  static List<String> dlogdCommand() {
    String configured = System.getenv("DLOG_DLOGD");
    if (configured == null || configured.isBlank()) configured = System.getProperty("dlog.dlogd");
    if (configured == null || configured.isBlank()) {
      String path = Objects.requireNonNullElse(System.getenv("PATH"), "");
      for (String dir : path.split(File.pathSeparator)) {
        Path candidate = Path.of(dir.isEmpty() ? "." : dir, "dlogd");
        if (Files.isExecutable(candidate)) return List.of(candidate.toString());
      }
      throw new IllegalStateException("dlogd not found: set DLOG_DLOGD to its path (or put dlogd on the PATH)");
    }
    if (!Files.exists(Path.of(configured))) throw new IllegalStateException("DLOG_DLOGD=" + configured + " does not exist");
    return configured.endsWith(".js") ? List.of("node", configured) : List.of(configured);
  }

  /** Whether this dlogd knows --in-memory (asked once per JVM through --help). */
  static boolean supportsInMemory(List<String> command) {
    Boolean known = inMemorySupported;
    if (known != null) return known;
    boolean supported = false;
    try {
      List<String> argv = new ArrayList<>(command);
      argv.add("--help");
      Process help = new ProcessBuilder(argv).redirectErrorStream(true).start();
      String text = new String(help.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      help.waitFor(10, TimeUnit.SECONDS);
      supported = text.contains("--in-memory");
    } catch (IOException e) {
      supported = false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    inMemorySupported = supported;
    return supported;
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** A monotonic deadline. */
  private record Deadline(long nanos) {
    static Deadline after(Duration duration) {
      return new Deadline(System.nanoTime() + duration.toNanos());
    }

    boolean pending() {
      return System.nanoTime() - nanos < 0;
    }
  }
}
