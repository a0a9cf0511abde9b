package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.dlog.testing.DlogdServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutual TLS and bearer tokens against a real dlogd. */
@org.junit.jupiter.api.Timeout(60)
class SecurityTest {
  @TempDir
  static Path dir;
  private static DlogdServer server;

  private static void openssl(String... args) throws IOException, InterruptedException {
    String[] argv = new String[args.length + 1];
    argv[0] = "openssl";
    System.arraycopy(args, 0, argv, 1, args.length);
    Process process = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    assertEquals(0, process.waitFor(), "openssl " + String.join(" ", args));
  }

  @BeforeAll
  static void start() throws Exception {
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=dlog test CA", "-keyout", "ca.key", "-out", "ca.pem");
    Files.writeString(dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr");
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=dlog client", "-keyout", "client.key", "-out", "client.csr");
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.pem");
    Files.writeString(dir.resolve("tokens.json"), """
        {"tokens": [
          {"name": "orders-app", "token": "orders-secret-0123456789", "allow": {"append": ["orders-*"], "read": ["orders-*"], "admin": ["orders-*"]}}
        ]}
        """);
    server = DlogdServer.start(DlogdServer.options().args(
        "--tls-cert", dir.resolve("server.pem").toString(), "--tls-key", dir.resolve("server.key").toString(),
        "--tls-client-ca", dir.resolve("ca.pem").toString(), "--auth-tokens", dir.resolve("tokens.json").toString()));
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  private static DlogClient client(String token) {
    return DlogClient.builder(server.address()).token(token)
        .tls(TlsOptions.trusting(dir.resolve("ca.pem")).clientCertificate(dir.resolve("client.pem"), dir.resolve("client.key")))
        .callTimeout(Duration.ofSeconds(10))
        .build();
  }

  @Test
  void aClientWithCertificateAndTokenAppendsAndReads() throws Exception {
    try (DlogClient client = client("orders-secret-0123456789")) {
      client.append("orders-eu", "paid".getBytes(StandardCharsets.UTF_8));
      try (Reader reader = client.reader(ReaderOptions.of("orders-eu", "billing"))) {
        ReaderRecord record = reader.poll(Duration.ofSeconds(10));
        assertNotNull(record);
        assertEquals("paid", record.text());
        record.ack();
      }
    }
  }

  @Test
  void noTokenIsUnauthenticatedAndAForeignLogIsDenied() throws Exception {
    try (DlogClient anonymous = client(null)) {
      DlogException error = assertThrows(DlogException.class, () -> anonymous.getLog("orders-eu"));
      assertInstanceOf(DlogException.Unauthenticated.class, error);
    }
    try (DlogClient client = client("orders-secret-0123456789")) {
      DlogException denied = assertThrows(DlogException.class, () -> client.append("payroll", "x".getBytes(StandardCharsets.UTF_8)));
      assertInstanceOf(DlogException.PermissionDenied.class, denied);
      AtomicInteger reconnects = new AtomicInteger();
      Reader reader = client.reader(ReaderOptions.of("payroll", "snoop").onReconnecting(r -> reconnects.incrementAndGet()));
      assertInstanceOf(DlogException.PermissionDenied.class, assertThrows(DlogException.class, () -> reader.poll(Duration.ofSeconds(10))));
      assertEquals(0, reconnects.get(), "a refused reader does not reconnect");
      reader.close();
    }
  }

  @Test
  void aClientWithoutACertificateIsTurnedAway() {
    try (DlogClient client = DlogClient.builder(server.address()).token("orders-secret-0123456789")
        .tls(TlsOptions.trusting(dir.resolve("ca.pem"))).callTimeout(Duration.ofSeconds(10)).build()) {
      DlogException error = assertThrows(DlogException.class, () -> client.getLog("orders-eu"));
      assertEquals(io.grpc.Status.Code.UNAVAILABLE, error.code());
    }
  }
}
