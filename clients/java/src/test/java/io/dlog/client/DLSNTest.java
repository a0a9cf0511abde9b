package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class DLSNTest {
  /** SPEC §1: DistributedLog's serializeBytes() / serialize() vectors. */
  @ParameterizedTest(name = "({0},{1},{2})")
  @CsvSource({
    "1, 2, 3, 01000000000000000100000000000000020000000000000003, AQAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw==",
    "1, 0, 0, 01000000000000000100000000000000000000000000000000, AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA==",
    "1, 0, -1, 0100000000000000010000000000000000ffffffffffffffff, AQAAAAAAAAABAAAAAAAAAAD//////////w==",
    "0, -1, -1, 010000000000000000ffffffffffffffffffffffffffffffff, AQAAAAAAAAAA/////////////////////w==",
  })
  void serializesLikeDistributedLog(long segment, long entry, long slot, String hex, String base64) {
    DLSN dlsn = new DLSN(segment, entry, slot);
    assertArrayEquals(HexFormat.of().parseHex(hex), dlsn.serializeBytes());
    assertEquals(base64, dlsn.serialize());
    assertEquals(dlsn, DLSN.deserializeBytes(HexFormat.of().parseHex(hex)));
    assertEquals(dlsn, DLSN.deserialize(base64));
    assertEquals(dlsn, DLSN.parse(base64));
  }

  @Test
  void specialValuesKeepDistributedLogNames() {
    assertEquals(new DLSN(1, 0, 0), DLSN.InitialDLSN);
    assertEquals(new DLSN(1, 0, -1), DLSN.NonInclusiveLowerBound);
    assertEquals(new DLSN(0, -1, -1), DLSN.InvalidDLSN);
  }

  @Test
  void printsAndParsesSlashForm() {
    assertEquals("1/42/0", new DLSN(1, 42, 0).toString());
    assertEquals(new DLSN(1, 42, 0), DLSN.parse("1/42/0"));
    assertEquals(new DLSN(0, -1, -1), DLSN.parse(" 0/-1/-1 "));
  }

  @Test
  void ordersFieldByField() {
    List<DLSN> sorted = List.of(new DLSN(0, -1, -1), new DLSN(1, 0, -1), new DLSN(1, 0, 0), new DLSN(1, 0, 1),
        new DLSN(1, 1, 0), new DLSN(2, 0, 0), new DLSN(2, Long.MAX_VALUE, 0));
    for (int i = 0; i + 1 < sorted.size(); i++) {
      assertTrue(sorted.get(i).compareTo(sorted.get(i + 1)) < 0, sorted.get(i) + " < " + sorted.get(i + 1));
      assertTrue(DLSN.compare(sorted.get(i).toProto(), sorted.get(i + 1).toProto()) < 0);
    }
    List<DLSN> shuffled = new java.util.ArrayList<>(sorted);
    java.util.Collections.reverse(shuffled);
    assertEquals(sorted, List.copyOf(new TreeSet<>(shuffled)));
  }

  @Test
  void equalValuesAreEqualAndHashAlike() {
    assertEquals(new DLSN(1, 2, 3), new DLSN(1, 2, 3));
    assertEquals(new DLSN(1, 2, 3).hashCode(), new DLSN(1, 2, 3).hashCode());
    assertNotEquals(new DLSN(1, 2, 3), new DLSN(1, 3, 2));
    assertEquals(1, Set.of(new DLSN(1, 2, 3)).size());
    assertEquals(new DLSN(1, 2, 3), DLSN.fromProto(new DLSN(1, 2, 3).toProto()));
  }

  @Test
  void refusesMalformedForms() {
    assertThrows(IllegalArgumentException.class, () -> DLSN.deserializeBytes(new byte[24]));
    byte[] wrongVersion = new DLSN(1, 2, 3).serializeBytes();
    wrongVersion[0] = 2;
    IllegalArgumentException version = assertThrows(IllegalArgumentException.class, () -> DLSN.deserializeBytes(wrongVersion));
    assertTrue(version.getMessage().contains("version"), version.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DLSN.deserialize("not base64!"));
    assertThrows(IllegalArgumentException.class, () -> DLSN.deserialize("AQAA"));
    assertThrows(IllegalArgumentException.class, () -> DLSN.parse("1/2"));
    assertThrows(IllegalArgumentException.class, () -> DLSN.parse("1/2/99999999999999999999"));
  }
}
