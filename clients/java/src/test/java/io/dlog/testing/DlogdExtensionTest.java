package io.dlog.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dlog.client.DLSN;
import io.dlog.client.DlogClient;
import io.dlog.client.DlogException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(DlogdExtension.class)
class DlogdExtensionTest {
  @Test
  void startsAThrowAwayServerOnALoopbackPort(DlogdServer server, DlogClient client) {
    assertTrue(server.address().startsWith("127.0.0.1:"), server.address());
    assertTrue(server.port() > 0);
    if (DlogdServer.supportsInMemory(DlogdServer.dlogdCommand())) {
      assertTrue(server.inMemory());
      assertNull(server.dataDir(), "nothing on disk");
    }
    List<DLSN> dlsns = client.append("extension-test", "a".getBytes(StandardCharsets.UTF_8), "b".getBytes(StandardCharsets.UTF_8));
    assertEquals(List.of(new DLSN(dlsns.get(0).segment(), dlsns.get(0).entry(), 0), new DLSN(dlsns.get(0).segment(), dlsns.get(0).entry(), 1)), dlsns);
  }

  @Test
  void aDurableServerRemovesItsDataDirWhenClosed() {
    Path dataDir;
    try (DlogdServer server = DlogdServer.start(DlogdServer.options().durable())) {
      dataDir = server.dataDir();
      assertTrue(Files.isDirectory(dataDir));
      server.client().createLog("kept");
      server.kill();
      server.restart();
      assertEquals("kept", server.client().getLog("kept").getLog(), "the log survived kill -9 and restart on the same port");
      assertThrows(DlogException.AlreadyExists.class, () -> server.client().createLog("kept"));
    }
    assertFalse(Files.exists(dataDir));
  }
}
