package io.imskms.core.replay;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.MutableClock;
import io.imskms.core.replay.ReplayException.Reason;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The shared guard's own logic over a map standing in for the store (a fake is fine here: the
 * store is a pure record of digests; the real Redis store is tested against redis-server in
 * kms-redis and vertx-api).
 */
class SharedReplayGuardTest {
  private static final Duration WINDOW = Duration.ofSeconds(60);
  private static final Instant T0 = Instant.parse("2025-03-01T12:00:00Z");
  private static final String ALICE = "ue:sip:alice@ims.example.com";

  /** Records what it was asked, answers from a map, fails on demand. */
  private static final class MapStore implements ReplayStore {
    final Map<String, Long> records = new HashMap<>();
    final List<Long> ttls = new ArrayList<>();
    final List<byte[]> digests = new ArrayList<>();
    boolean down;
    long floor = Long.MIN_VALUE;

    @Override
    public boolean recordIfAbsent(byte[] digest, long stamp, long ttlMillis)
        throws ReplayStoreException {
      if (down) {
        throw new ReplayStoreException("timed out after 250 ms");
      }
      digests.add(digest.clone());
      ttls.add(ttlMillis);
      return records.putIfAbsent(HexFormat.of().formatHex(digest), stamp) == null;
    }

    @Override
    public boolean remove(byte[] digest, long stamp) throws ReplayStoreException {
      if (down) {
        throw new ReplayStoreException("connection refused");
      }
      return records.remove(HexFormat.of().formatHex(digest), stamp);
    }

    @Override
    public long floorMillis() {
      return floor;
    }
  }

  private static byte[] nonce(long n) {
    return ByteBuffer.allocate(16).putLong(0x5eed).putLong(n).array();
  }

  private static Reason refusal(ReplayGuard g, byte[] nonce, Instant t) {
    return assertThrows(ReplayException.class, () -> g.checkAndRecord(ALICE, nonce, t)).reason();
  }

  @Test
  void aPairIsAcceptedOnce_andItsRecordLivesExactlyTheRestOfItsWindow() throws Exception {
    MapStore store = new MapStore();
    SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, new MutableClock(T0.toEpochMilli()));
    Instant t = T0.minusSeconds(10);
    g.checkAndRecord(ALICE, nonce(1), t);
    assertEquals(Reason.REPLAY, refusal(g, nonce(1), t));
    assertEquals(Reason.REPLAY, refusal(g, nonce(1), t.plusSeconds(5)));
    assertEquals(List.of(50_000L, 50_000L, 55_000L), store.ttls);
    // The store sees the domain-separated digest only, the same one the in-process cache uses.
    assertArrayEquals(ReplayDigest.of(ALICE, nonce(1)), store.digests.get(0));
    assertEquals(16, store.digests.get(0).length);
  }

  @Test
  void staleTimestamps_areRefusedWithoutAskingTheStore() {
    MapStore store = new MapStore();
    SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, new MutableClock(T0.toEpochMilli()));
    assertEquals(Reason.STALE_TIMESTAMP, refusal(g, nonce(1), T0.minusSeconds(61)));
    assertEquals(Reason.STALE_TIMESTAMP, refusal(g, nonce(2), T0.plusSeconds(61)));
    assertTrue(store.ttls.isEmpty());
  }

  @Test
  void aStoreThatFails_refusesTheRequest_neverAcceptsIt() {
    MapStore store = new MapStore();
    store.down = true;
    SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, new MutableClock(T0.toEpochMilli()));
    ReplayException e = assertThrows(ReplayException.class,
        () -> g.checkAndRecord(ALICE, nonce(1), T0));
    assertEquals(Reason.STORE_UNAVAILABLE, e.reason());
    assertFalse(e.getMessage().contains(ALICE));
  }

  @Test
  void timestampsBeforeTheFloor_areRefused_afterItTheyAreServed() throws Exception {
    MapStore store = new MapStore();
    store.floor = T0.toEpochMilli();
    SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, new MutableClock(T0.toEpochMilli()));
    assertEquals(Reason.STORE_UNAVAILABLE, refusal(g, nonce(1), T0.minusMillis(1)));
    g.checkAndRecord(ALICE, nonce(2), T0);
  }

  @Test
  void forget_removesOnlyTheRecordOfThatTimestamp_andSurvivesAStoreFailure() throws Exception {
    MapStore store = new MapStore();
    SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, new MutableClock(T0.toEpochMilli()));
    g.checkAndRecord(ALICE, nonce(1), T0);
    assertFalse(g.forget(ALICE, nonce(1), T0.plusMillis(1)));
    assertTrue(g.forget(ALICE, nonce(1), T0));
    g.checkAndRecord(ALICE, nonce(1), T0); // the unanswered request may be sent again
    store.down = true;
    assertFalse(g.forget(ALICE, nonce(1), T0));
  }

  @Test
  void badArguments_areRefused() {
    MapStore store = new MapStore();
    MutableClock clock = new MutableClock(T0.toEpochMilli());
    assertThrows(IllegalArgumentException.class,
        () -> new SharedReplayGuard(store, Duration.ZERO, clock));
    assertThrows(IllegalArgumentException.class,
        () -> new SharedReplayGuard(store, Duration.ofDays(2), clock));
    SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, clock);
    assertThrows(IllegalArgumentException.class,
        () -> g.checkAndRecord(ALICE, new byte[15], T0));
    assertThrows(IllegalArgumentException.class, () -> g.forget(ALICE, new byte[17], T0));
    assertEquals(WINDOW, g.window());
  }

  /** The window's own bounds are allowed (found by mutation testing: docs/assurance.md). */
  @Test
  void window_ofExactly1msAndOfTheMaximum_isAccepted() {
    MapStore store = new MapStore();
    MutableClock clock = new MutableClock(T0.toEpochMilli());
    assertEquals(Duration.ofMillis(1),
        new SharedReplayGuard(store, Duration.ofMillis(1), clock).window());
    assertEquals(ReplayCache.MAX_WINDOW,
        new SharedReplayGuard(store, ReplayCache.MAX_WINDOW, clock).window());
    assertThrows(IllegalArgumentException.class,
        () -> new SharedReplayGuard(store, ReplayCache.MAX_WINDOW.plusMillis(1), clock));
  }
}
