package io.dlog.testing;

import io.dlog.client.DlogClient;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A JUnit 5 extension that gives a test a real, throw-away dlogd: {@code --in-memory} when the
 * server supports it (nothing on disk, not durable), otherwise a temp data dir; on a free loopback
 * port; stopped and its data removed afterwards. dlogd is found through {@code DLOG_DLOGD} or the
 * PATH. Registered on a static field it serves the whole class; on an instance field, each test.
 *
 * <pre>{@code
 * class OrdersTest {
 *   @RegisterExtension
 *   static DlogdExtension dlogd = DlogdExtension.create();
 *
 *   @Test
 *   void billsEveryOrder() {
 *     DlogClient client = dlogd.client();
 *     ...
 *   }
 * }
 * }</pre>
 *
 * With {@code @ExtendWith(DlogdExtension.class)} a test or constructor may take a
 * {@link DlogdServer} or a {@link DlogClient} parameter instead.
 */
public final class DlogdExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, ParameterResolver {
  private final DlogdServer.Options options;
  private DlogdServer server;
  private boolean perClass;

  /** Used by {@code @ExtendWith}: the default options. */
  public DlogdExtension() {
    this(DlogdServer.options());
  }

  private DlogdExtension(DlogdServer.Options options) {
    this.options = options;
  }

  public static DlogdExtension create() {
    return new DlogdExtension(DlogdServer.options());
  }

  /** With these options, e.g. {@code DlogdServer.options().durable().args("--ack-flush-interval", "50ms")}. */
  public static DlogdExtension create(DlogdServer.Options options) {
    return new DlogdExtension(options);
  }

  /** The running server. */
  public DlogdServer server() {
    if (server == null) throw new IllegalStateException("dlogd is not running: the extension starts it before each test (or before all, when static)");
    return server;
  }

  /** {@code host:port} of the running server. */
  public String address() {
    return server().address();
  }

  /** A client of the running server, closed when the server stops. */
  public DlogClient client() {
    return server().client();
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    perClass = true;
    server = DlogdServer.start(options);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    stopServer();
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    if (!perClass && server == null) server = DlogdServer.start(options);
  }

  @Override
  public void afterEach(ExtensionContext context) {
    if (!perClass) stopServer();
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == DlogdServer.class || type == DlogClient.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    if (server == null) server = DlogdServer.start(options); // a constructor parameter comes before beforeEach
    return parameter.getParameter().getType() == DlogdServer.class ? server : server.client();
  }

  private void stopServer() {
    if (server == null) return;
    try {
      server.close();
    } finally {
      server = null;
    }
  }
}
