package io.imskms.core.replay;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.replay.ReplayException.Reason;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReplayCacheTest {
  private static final Duration WINDOW = Duration.ofSeconds(60);
  private static final Instant T0 = Instant.parse("2025-03-01T12:00:00Z");
  private static final String ALICE = "ue:sip:alice@ims.example.com";
  private static final String BOB = "ue:sip:bob@ims.example.com";

  /** A clock the test moves by hand. */
  private static final class TestClock extends Clock {
    private volatile Instant now;

    TestClock(Instant now) {
      this.now = now;
    }

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      throw new UnsupportedOperationException();
    }
  }

  private static byte[] nonce(long n) {
    return ByteBuffer.allocate(16).putLong(0x5eed).putLong(n).array();
  }

  private static Reason refusal(ReplayCache c, String principal, byte[] nonce, Instant t) {
    return assertThrows(ReplayException.class, () -> c.checkAndRecord(principal, nonce, t))
        .reason();
  }

  @Test
  void checkAndRecord_freshNonce_isAccepted() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 100, new TestClock(T0));
    c.checkAndRecord(ALICE, nonce(1), T0);
    assertEquals(1, c.size());
  }

  @Test
  void checkAndRecord_sameNonceTwice_isReplay() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 100, new TestClock(T0));
    c.checkAndRecord(ALICE, nonce(1), T0);
    assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(1), T0));
    // A different timestamp does not make the same nonce new.
    assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(1), T0.plusSeconds(5)));
    assertEquals(1, c.size());
  }

  @Test
  void checkAndRecord_sameNonceForAnotherPrincipal_isAccepted() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 100, new TestClock(T0));
    c.checkAndRecord(ALICE, nonce(1), T0);
    c.checkAndRecord(BOB, nonce(1), T0);
    assertEquals(2, c.size());
  }

  @Test
  void checkAndRecord_principalBoundaryIsUnambiguous() throws Exception {
    // "ab" + nonce must not collide with "a" + ("b" ‖ nonce-prefix): the length is hashed.
    ReplayCache c = new ReplayCache(WINDOW, 100, new TestClock(T0));
    c.checkAndRecord("ab", nonce(1), T0);
    c.checkAndRecord("a", nonce(1), T0);
    assertEquals(2, c.size());
  }

  @Test
  void checkAndRecord_timestampOlderThanWindow_isStale() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 100, new TestClock(T0));
    assertEquals(Reason.STALE_TIMESTAMP,
        refusal(c, ALICE, nonce(1), T0.minus(WINDOW).minusMillis(1)));
    c.checkAndRecord(ALICE, nonce(2), T0.minus(WINDOW)); // the edge itself is inside
    assertEquals(1, c.size());
  }

  @Test
  void checkAndRecord_timestampFurtherAheadThanWindow_isStale() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 100, new TestClock(T0));
    assertEquals(Reason.STALE_TIMESTAMP,
        refusal(c, ALICE, nonce(1), T0.plus(WINDOW).plusMillis(1)));
    assertEquals(Reason.STALE_TIMESTAMP, refusal(c, ALICE, nonce(2), Instant.MAX));
    assertEquals(Reason.STALE_TIMESTAMP, refusal(c, ALICE, nonce(3), Instant.MIN));
    c.checkAndRecord(ALICE, nonce(4), T0.plus(WINDOW));
    assertEquals(1, c.size());
  }

  @Test
  void checkAndRecord_replayAfterTheWindow_isStillRefusedAsStale() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 100, clock);
    c.checkAndRecord(ALICE, nonce(1), T0);
    clock.advance(WINDOW.multipliedBy(3));
    assertEquals(Reason.STALE_TIMESTAMP, refusal(c, ALICE, nonce(1), T0));
  }

  @Test
  void checkAndRecord_futureTimestamp_isRememberedUntilItLeavesTheWindow() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 100, clock);
    Instant ahead = T0.plus(WINDOW); // accepted now, acceptable until T0 + 2 × window
    c.checkAndRecord(ALICE, nonce(1), ahead);
    clock.advance(WINDOW.multipliedBy(2));
    c.checkAndRecord(BOB, nonce(9), clock.instant()); // gives eviction its chance
    assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(1), ahead));
  }

  @Test
  void entries_areEvictedOnceTheirTimestampLeavesTheWindow() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 1000, clock);
    for (int i = 0; i < 500; i++) {
      c.checkAndRecord(ALICE, nonce(i), T0.minusSeconds(i % 60));
    }
    assertEquals(500, c.size());
    clock.advance(WINDOW.plus(WINDOW.dividedBy(16)).plusMillis(1));
    c.checkAndRecord(BOB, nonce(0), clock.instant());
    assertEquals(1, c.size());
  }

  @Test
  void checkAndRecord_sameNonceWithFreshTimestampAfterExpiry_isAccepted() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 100, clock);
    c.checkAndRecord(ALICE, nonce(1), T0);
    clock.advance(WINDOW.plusMillis(1)); // expired, possibly not yet evicted
    c.checkAndRecord(ALICE, nonce(1), clock.instant());
    assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(1), clock.instant()));
    assertEquals(1, c.size());
  }

  @Test
  void checkAndRecord_whenFullOfUnexpiredEntries_isCapacityAndEvictsNothing() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 3, clock);
    for (int i = 0; i < 3; i++) {
      c.checkAndRecord(ALICE, nonce(i), T0);
    }
    assertEquals(Reason.CAPACITY, refusal(c, BOB, nonce(100), T0));
    clock.advance(WINDOW.dividedBy(2));
    assertEquals(Reason.CAPACITY, refusal(c, BOB, nonce(101), clock.instant()));
    for (int i = 0; i < 3; i++) {
      assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(i), T0), "entry " + i + " kept");
    }
    assertEquals(3, c.size());
  }

  @Test
  void checkAndRecord_fullCache_acceptsAgainOnceEntriesExpire() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 3, clock);
    for (int i = 0; i < 3; i++) {
      c.checkAndRecord(ALICE, nonce(i), T0);
    }
    assertEquals(Reason.CAPACITY, refusal(c, BOB, nonce(100), T0));
    // Eviction is by time slice of window/32; give it that slack.
    clock.advance(WINDOW.plus(WINDOW.dividedBy(32)).plusMillis(1));
    c.checkAndRecord(BOB, nonce(100), clock.instant());
    assertEquals(1, c.size());
  }

  @Test
  void forget_ofARecordedPair_acceptsTheSameRequestAgain_andFreesItsPlace() throws Exception {
    TestClock clock = new TestClock(T0);
    ReplayCache c = new ReplayCache(WINDOW, 1, clock);
    c.checkAndRecord(ALICE, nonce(1), T0);
    assertEquals(Reason.CAPACITY, refusal(c, BOB, nonce(2), T0));
    assertTrue(c.forget(ALICE, nonce(1), T0));
    assertEquals(0, c.size());
    c.checkAndRecord(ALICE, nonce(1), T0); // the same request, served this time
    assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(1), T0));
    // Its place was freed once only: the cache still holds at most one entry.
    assertEquals(Reason.CAPACITY, refusal(c, BOB, nonce(2), T0));
    // Once expired, the bucket lists both objects; the count of places comes back to zero.
    clock.advance(WINDOW.plus(WINDOW.dividedBy(16)).plusMillis(1));
    c.checkAndRecord(BOB, nonce(2), clock.instant());
    assertEquals(1, c.size());
  }

  @Test
  void forget_withAnotherTimestampOrPrincipal_leavesTheEntry() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 10, new TestClock(T0));
    c.checkAndRecord(ALICE, nonce(1), T0);
    assertTrue(!c.forget(ALICE, nonce(1), T0.plusMillis(1)));
    assertTrue(!c.forget(BOB, nonce(1), T0));
    assertTrue(!c.forget(ALICE, nonce(2), T0));
    assertEquals(Reason.REPLAY, refusal(c, ALICE, nonce(1), T0));
    assertEquals(1, c.size());
  }

  @Test
  void requestNonces_releaseForgetsOnlyWhatItRecorded() throws Exception {
    ReplayCache c = new ReplayCache(WINDOW, 10, new TestClock(T0));
    c.checkAndRecord(BOB, nonce(9), T0);
    RequestNonces r = new RequestNonces(c);
    r.checkAndRecord(ALICE, nonce(1), T0);
    r.checkAndRecord(BOB, nonce(1), T0);
    assertThrows(ReplayException.class, () -> r.checkAndRecord(BOB, nonce(9), T0));
    assertEquals(3, c.size());
    r.release();
    assertEquals(1, c.size());
    assertEquals(Reason.REPLAY, refusal(c, BOB, nonce(9), T0));
  }

  @Test
  void checkAndRecord_nonceOfWrongLength_isIllegalArgument() {
    ReplayCache c = new ReplayCache(WINDOW, 10, new TestClock(T0));
    assertThrows(IllegalArgumentException.class,
        () -> c.checkAndRecord(ALICE, new byte[15], T0));
    assertThrows(IllegalArgumentException.class,
        () -> c.checkAndRecord(ALICE, new byte[32], T0));
  }

  @Test
  void constructor_withUnusableLimits_isIllegalArgument() {
    Clock clock = new TestClock(T0);
    assertThrows(IllegalArgumentException.class, () -> new ReplayCache(Duration.ZERO, 10, clock));
    assertThrows(IllegalArgumentException.class,
        () -> new ReplayCache(Duration.ofDays(2), 10, clock));
    assertThrows(IllegalArgumentException.class, () -> new ReplayCache(WINDOW, 0, clock));
  }

  @Test
  void replayException_messageNamesNeitherPrincipalNorNonce() {
    ReplayCache c = new ReplayCache(WINDOW, 10, new TestClock(T0));
    assertDoesNotThrow(() -> c.checkAndRecord(ALICE, nonce(0xabcdef), T0));
    ReplayException e = assertThrows(ReplayException.class,
        () -> c.checkAndRecord(ALICE, nonce(0xabcdef), T0));
    assertTrue(e.getMessage().startsWith("REPLAY"), e.getMessage());
    assertTrue(!e.getMessage().contains("alice") && !e.getMessage().contains("abcdef"));
  }

  @Test
  void concurrentCopiesOfTheSameRequests_areEachAcceptedExactlyOnce() throws Exception {
    TestClock clock = new TestClock(T0);
    int n = 20_000;
    ReplayCache c = new ReplayCache(WINDOW, 2 * n, clock);
    AtomicInteger accepted = new AtomicInteger();
    AtomicInteger replays = new AtomicInteger();
    AtomicInteger other = new AtomicInteger();
    CountDownLatch start = new CountDownLatch(1);
    Runnable worker = () -> {
      try {
        start.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      for (int i = 0; i < n; i++) {
        // Half the nonces are shared by both threads, half are each thread's own.
        String principal = i % 2 == 0 ? ALICE : Thread.currentThread().getName();
        try {
          c.checkAndRecord(principal, nonce(i), T0.plusMillis(i % 1000));
          accepted.incrementAndGet();
        } catch (ReplayException e) {
          (e.reason() == Reason.REPLAY ? replays : other).incrementAndGet();
        }
      }
    };
    Thread t1 = new Thread(worker, "worker-1");
    Thread t2 = new Thread(worker, "worker-2");
    t1.start();
    t2.start();
    start.countDown();
    t1.join();
    t2.join();
    assertEquals(0, other.get());
    assertEquals(n / 2, replays.get(), "each shared request accepted once, refused once");
    assertEquals(n / 2 + n, accepted.get());
    assertEquals(n / 2 + n, c.size());
  }

  @Test
  void concurrentRequestsAtCapacity_neverExceedMaxEntries() throws Exception {
    TestClock clock = new TestClock(T0);
    int max = 1000;
    ReplayCache c = new ReplayCache(WINDOW, max, clock);
    AtomicInteger accepted = new AtomicInteger();
    AtomicInteger capacity = new AtomicInteger();
    Runnable worker = () -> {
      String me = Thread.currentThread().getName();
      for (int i = 0; i < 5000; i++) {
        try {
          c.checkAndRecord(me, nonce(i), T0);
          accepted.incrementAndGet();
        } catch (ReplayException e) {
          if (e.reason() == Reason.CAPACITY) {
            capacity.incrementAndGet();
          }
        }
      }
    };
    Thread t1 = new Thread(worker, "a");
    Thread t2 = new Thread(worker, "b");
    t1.start();
    t2.start();
    t1.join();
    t2.join();
    assertEquals(max, accepted.get());
    assertEquals(10_000 - max, capacity.get());
    assertEquals(max, c.size());
  }

  /**
   * Measures heap per entry (printed; the bound is loose, only to catch a regression such as
   * keeping the principal string or the nonce array per entry).
   */
  @Test
  void memoryPerEntry_isMeasuredAndBounded() throws Exception {
    TestClock clock = new TestClock(T0);
    int n = 200_000;
    ReplayCache c = new ReplayCache(Duration.ofMinutes(5), n, clock);
    c.checkAndRecord("warm-up", nonce(-1), T0);
    long before = usedHeapAfterGc();
    long windowMs = Duration.ofMinutes(5).toMillis();
    byte[] nonce = new byte[16];
    ByteBuffer nb = ByteBuffer.wrap(nonce);
    long started = System.nanoTime();
    for (int i = 1; i < n; i++) {
      nb.putLong(0, i).putLong(8, ~i);
      // Timestamps spread over the whole window, as under steady load.
      c.checkAndRecord("ue:sip:user" + (i % 5000) + "@ims.example.com", nonce,
          T0.minusMillis(windowMs).plusMillis((2 * windowMs * i) / n));
    }
    long elapsed = System.nanoTime() - started;
    long after = usedHeapAfterGc();
    assertEquals(n, c.size());
    double perEntry = (after - before) / (double) (n - 1);
    System.out.printf("ReplayCache: %d entries use %.1f MiB, %.1f bytes per entry%n", n - 1,
        (after - before) / 1048576.0, perEntry);
    System.out.printf("ReplayCache: %.2f µs per insert on one thread (cold JIT; informational)%n",
        elapsed / 1000.0 / (n - 1));
    assertTrue(perEntry > 0 && perEntry < 160, "bytes per entry: " + perEntry);
  }

  private static long usedHeapAfterGc() throws InterruptedException {
    Runtime rt = Runtime.getRuntime();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(50);
      used = Math.min(used, rt.totalMemory() - rt.freeMemory());
    }
    return used;
  }
}
