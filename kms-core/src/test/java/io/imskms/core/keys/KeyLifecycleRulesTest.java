package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Optional;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The pure rules of {@link KeyLifecycle}: effective states at an instant, and the codec. */
class KeyLifecycleRulesTest {
  private static final KeyPurpose P = KeyPurpose.TICKET_ROOT;
  private static final Instant T0 = Instant.parse("2026-12-01T00:00:00Z");

  private static NavigableSet<Integer> versions(Integer... v) {
    return new TreeSet<>(List.of(v));
  }

  private static KeyLifecycle.Entry e(int v, KeyState s, Instant activated, Instant activateAt,
      Instant retired) {
    return new KeyLifecycle.Entry(P, v, s, Optional.of(T0), Optional.ofNullable(activated),
        Optional.ofNullable(activateAt), Optional.ofNullable(retired));
  }

  private static KeyState state(KeyLifecycle doc, NavigableSet<Integer> in, int v, Instant at) {
    return doc.effective(P, in, at).get(v).state();
  }

  @Test
  void noRecord_highestIsActive_othersDecryptOnly() {
    Map<Integer, KeyLifecycle.Effective> m = KeyLifecycle.NONE.effective(P, versions(1, 2, 3), T0);
    assertEquals(KeyState.DECRYPT_ONLY, m.get(1).state());
    assertEquals(KeyState.DECRYPT_ONLY, m.get(2).state());
    assertEquals(KeyState.ACTIVE, m.get(3).state());
  }

  @Test
  void stagedVersion_isDecryptOnlyBeforeItsTime_andActiveFromIt_replacingTheOldOne() {
    Instant at = T0.plusSeconds(10);
    KeyLifecycle doc = new KeyLifecycle(1, List.of(e(1, KeyState.ACTIVE, T0, null, null),
        e(2, KeyState.DECRYPT_ONLY, null, at, null)));
    NavigableSet<Integer> in = versions(1, 2);
    assertEquals(KeyState.ACTIVE, state(doc, in, 1, at.minusMillis(1)));
    assertEquals(KeyState.DECRYPT_ONLY, state(doc, in, 2, at.minusMillis(1)));
    assertEquals(KeyState.DECRYPT_ONLY, state(doc, in, 1, at));
    assertEquals(KeyState.ACTIVE, state(doc, in, 2, at));
  }

  @Test
  void materialise_writesDueActivationsOut_andKeepsPendingOnes() {
    Instant at = T0.plusSeconds(10);
    KeyLifecycle doc = new KeyLifecycle(4, List.of(e(1, KeyState.ACTIVE, T0, null, null),
        e(2, KeyState.DECRYPT_ONLY, null, at, null)));
    Map<KeyPurpose, NavigableSet<Integer>> in = Map.of(P, versions(1, 2));
    KeyLifecycle before = doc.materialise(in, at.minusSeconds(1));
    assertEquals(KeyState.ACTIVE, before.entry(P, 1).orElseThrow().state());
    assertEquals(Optional.of(at), before.entry(P, 2).orElseThrow().activateAt());
    KeyLifecycle after = doc.materialise(in, at);
    assertEquals(KeyState.DECRYPT_ONLY, after.entry(P, 1).orElseThrow().state());
    assertEquals(KeyState.ACTIVE, after.entry(P, 2).orElseThrow().state());
    assertEquals(Optional.of(at), after.entry(P, 2).orElseThrow().activated());
    assertEquals(Optional.empty(), after.entry(P, 2).orElseThrow().activateAt());
    assertEquals(4, after.sequence());
    assertEquals(5, after.successor().sequence());
  }

  @Test
  void unrecordedVersion_isDecryptOnly_andRetiredStaysRetired() {
    KeyLifecycle doc = new KeyLifecycle(1, List.of(e(1, KeyState.RETIRED, T0, null, T0),
        e(2, KeyState.ACTIVE, T0, null, null)));
    NavigableSet<Integer> in = versions(1, 2, 3);
    assertEquals(KeyState.RETIRED, state(doc, in, 1, T0));
    assertEquals(KeyState.ACTIVE, state(doc, in, 2, T0));
    assertEquals(KeyState.DECRYPT_ONLY, state(doc, in, 3, T0));
  }

  @Test
  void everyVersionRetired_isRefused() {
    KeyLifecycle doc = new KeyLifecycle(1, List.of(e(1, KeyState.RETIRED, T0, null, T0)));
    assertThrows(IllegalStateException.class, () -> doc.effective(P, versions(1), T0));
  }

  @Test
  void codec_roundTrips_andRefusesWhatItDidNotWrite() throws Exception {
    KeyLifecycle doc = new KeyLifecycle(7, List.of(e(1, KeyState.RETIRED, T0, null, T0),
        e(2, KeyState.ACTIVE, T0, null, null), e(3, KeyState.DECRYPT_ONLY, null, T0, null)));
    KeyLifecycle back = KeyLifecycle.decode(doc.encode());
    assertEquals(doc.sequence(), back.sequence());
    assertEquals(doc.entries(), back.entries());
    assertEquals(new String(doc.encode(), StandardCharsets.UTF_8),
        new String(back.encode(), StandardCharsets.UTF_8));
    for (String bad : new String[] {"{}", "[]", "{\"format\":2,\"sequence\":1,\"keys\":[]}",
        "{\"format\":1,\"sequence\":1,\"keys\":[{\"purpose\":\"NOPE\",\"version\":1,"
            + "\"state\":\"active\"}]}",
        "{\"format\":1,\"sequence\":1,\"keys\":[{\"purpose\":\"MEDIA_ROOT\",\"version\":1,"
            + "\"state\":\"paused\"}]}"}) {
      assertThrows(IOException.class,
          () -> KeyLifecycle.decode(bad.getBytes(StandardCharsets.UTF_8)), bad);
    }
  }
}
