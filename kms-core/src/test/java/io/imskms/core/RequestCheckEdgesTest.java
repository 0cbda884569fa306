package io.imskms.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.UnknownKeyVersionException;
import io.imskms.core.replay.ReplayCache;
import io.imskms.core.replay.ReplayException;
import io.imskms.core.replay.RequestNonces;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The edges of kms-core's request checks that need no token: the replay window at its exact
 * bounds, nonces given back once only, which refusals count as the server's fault (the mailbox
 * directory's: {@code DirectoryEdgesTest}). Written where mutation testing (PIT) showed a changed boundary or
 * a dropped call going unnoticed (docs/assurance.md).
 */
class RequestCheckEdgesTest {
  private static final Duration WINDOW = Duration.ofMinutes(5);
  private static final long NOW = 1_800_000_000_000L;

  private static byte[] nonce(int v) {
    byte[] n = new byte[16];
    n[0] = (byte) v;
    return n;
  }

  @Test
  void replayWindow_acceptsTimestampsExactlyAtItsBounds_refusesOneMillisecondBeyond()
      throws Exception {
    ReplayCache cache = new ReplayCache(WINDOW, 100, new MutableClock(NOW));
    long w = WINDOW.toMillis();
    cache.checkAndRecord("ue:a", nonce(1), Instant.ofEpochMilli(NOW - w));
    cache.checkAndRecord("ue:a", nonce(2), Instant.ofEpochMilli(NOW + w));
    for (long t : new long[] {NOW - w - 1, NOW + w + 1}) {
      ReplayException e = assertThrows(ReplayException.class,
          () -> cache.checkAndRecord("ue:a", nonce(3), Instant.ofEpochMilli(t)));
      assertEquals(ReplayException.Reason.STALE_TIMESTAMP, e.reason());
    }
    assertEquals(100, cache.maxEntries());
    assertEquals(WINDOW, cache.window());
  }

  @Test
  void replayWindow_ofExactly1msAndOfTheMaximum_isAccepted_outsideRefused() {
    MutableClock clock = new MutableClock(NOW);
    new ReplayCache(Duration.ofMillis(1), 1, clock);
    new ReplayCache(ReplayCache.MAX_WINDOW, 1, clock);
    assertThrows(IllegalArgumentException.class,
        () -> new ReplayCache(Duration.ZERO, 1, clock));
    assertThrows(IllegalArgumentException.class,
        () -> new ReplayCache(ReplayCache.MAX_WINDOW.plusMillis(1), 1, clock));
    assertThrows(IllegalArgumentException.class, () -> new ReplayCache(WINDOW, 0, clock));
  }

  @Test
  void forget_removesARecordedNonceOnce() throws Exception {
    ReplayCache cache = new ReplayCache(WINDOW, 100, new MutableClock(NOW));
    Instant t = Instant.ofEpochMilli(NOW);
    assertFalse(cache.forget("ue:a", nonce(1), t), "never recorded");
    cache.checkAndRecord("ue:a", nonce(1), t);
    assertFalse(cache.forget("ue:a", nonce(1), t.plusMillis(1)), "another timestamp");
    assertTrue(cache.forget("ue:a", nonce(1), t));
    assertFalse(cache.forget("ue:a", nonce(1), t));
    cache.checkAndRecord("ue:a", nonce(1), t); // given back: the same request may come again
  }

  /**
   * A request that met a server fault gives its nonces back; the client sends it again and it is
   * served. Releasing the first attempt a second time must not give back the second one's nonce,
   * or the served request could be replayed.
   */
  @Test
  void requestNonces_releasedTwice_doNotFreeTheNonceOfTheServedRetry() throws Exception {
    ReplayCache cache = new ReplayCache(WINDOW, 100, new MutableClock(NOW));
    Instant t = Instant.ofEpochMilli(NOW);
    RequestNonces first = new RequestNonces(cache);
    first.checkAndRecord("ue:a", nonce(7), t);
    first.release();
    new RequestNonces(cache).checkAndRecord("ue:a", nonce(7), t); // the retry, served
    first.release();
    ReplayException e = assertThrows(ReplayException.class,
        () -> cache.checkAndRecord("ue:a", nonce(7), t));
    assertEquals(ReplayException.Reason.REPLAY, e.reason());
  }

  @Test
  void serverSide_isExactlyHsmUnavailableBusyInternalAndReplayStoreUnavailable() {
    Set<ErrorCode> server = EnumSet.of(ErrorCode.HSM_UNAVAILABLE, ErrorCode.BUSY,
        ErrorCode.INTERNAL, ErrorCode.REPLAY_STORE_UNAVAILABLE);
    for (ErrorCode c : ErrorCode.values()) {
      assertEquals(server.contains(c), new KmsException(c, "x").serverSide(), c.name());
    }
  }

  @Test
  void protocolAndKeyVersionFailures_keepTheirCodes() {
    ProtocolException pe = new ProtocolException(ErrorCode.MALFORMED, "truncated");
    KmsException k = KmsException.of(pe);
    assertEquals(ErrorCode.MALFORMED, k.code());
    assertSame(pe, k.getCause());
    KeyPurpose purpose = KeyPurpose.values()[0];
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION,
        KmsException.of(new UnknownKeyVersionException(purpose, 9)).code());
    KmsException u = KmsException.unknownVersion(purpose, 9);
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION, u.code());
    assertTrue(u.getMessage().endsWith(" v9"), u.getMessage());
  }
}
