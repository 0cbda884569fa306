package io.imskms.core.replay;

import io.imskms.core.replay.ReplayException.Reason;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * The replay defence for several nodes: the window check here, the record in a {@link
 * ReplayStore} that every node shares (Redis, docs/scaling.md). Same rules as {@link
 * ReplayCache}: a timestamp outside {@code ±window} is STALE_TIMESTAMP; a pair recorded by any
 * node until {@code timestamp + window} is REPLAY.
 *
 * <p>Security guarantees: fail closed. When the store does not answer within its bounded time,
 * fails, or cannot vouch for a record (replica acknowledgement missing, records lost), the request
 * is refused with {@link Reason#STORE_UNAVAILABLE}; the check is never skipped and never falls
 * back to an in-process record that other nodes cannot see. A timestamp before the store's
 * {@linkplain ReplayStore#floorMillis() floor} (set when the store lost its records) is refused
 * the same way. The store receives only {@link ReplayDigest}s and a record's time to live is
 * exactly the rest of its window ({@code timestamp + window - now}).
 */
public final class SharedReplayGuard implements ReplayGuard {
  private final ReplayStore store;
  private final Duration window;
  private final long windowMillis;
  private final Clock clock;

  /**
   * @param store the shared store
   * @param window how far a timestamp may be from the clock, 1 ms to {@link
   *     ReplayCache#MAX_WINDOW}
   * @param clock the server's clock
   */
  public SharedReplayGuard(ReplayStore store, Duration window, Clock clock) {
    this.store = Objects.requireNonNull(store, "store");
    Objects.requireNonNull(window, "window");
    if (window.compareTo(Duration.ofMillis(1)) < 0
        || window.compareTo(ReplayCache.MAX_WINDOW) > 0) {
      throw new IllegalArgumentException("replay window must be between 1 ms and "
          + ReplayCache.MAX_WINDOW);
    }
    this.window = window;
    this.windowMillis = window.toMillis();
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  @Override
  public void checkAndRecord(String principal, byte[] nonce, Instant timestamp)
      throws ReplayException {
    Objects.requireNonNull(principal, "principal");
    Objects.requireNonNull(nonce, "nonce");
    Objects.requireNonNull(timestamp, "timestamp");
    if (nonce.length != ReplayCache.NONCE_LENGTH) {
      throw new IllegalArgumentException("nonce must be " + ReplayCache.NONCE_LENGTH + " bytes");
    }
    long now = clock.millis();
    long t = ReplayCache.checkWindow(now, timestamp, window);
    if (t < store.floorMillis()) {
      throw new ReplayException(Reason.STORE_UNAVAILABLE, "timestamp is before the replay"
          + " store's floor (the store lost its records; requests made before that are refused"
          + " for the rest of their window)");
    }
    long ttl = Math.max(1, t + windowMillis - now);
    boolean recorded;
    try {
      recorded = store.recordIfAbsent(ReplayDigest.of(principal, nonce), t, ttl);
    } catch (ReplayStoreException e) {
      throw new ReplayException(Reason.STORE_UNAVAILABLE, "replay store: " + e.getMessage());
    }
    if (!recorded) {
      throw new ReplayException(Reason.REPLAY, "nonce already used by this principal");
    }
  }

  @Override
  public boolean forget(String principal, byte[] nonce, Instant timestamp) {
    Objects.requireNonNull(principal, "principal");
    Objects.requireNonNull(nonce, "nonce");
    Objects.requireNonNull(timestamp, "timestamp");
    if (nonce.length != ReplayCache.NONCE_LENGTH) {
      throw new IllegalArgumentException("nonce must be " + ReplayCache.NONCE_LENGTH + " bytes");
    }
    long t;
    try {
      t = timestamp.toEpochMilli();
    } catch (ArithmeticException e) {
      return false;
    }
    try {
      return store.remove(ReplayDigest.of(principal, nonce), t);
    } catch (ReplayStoreException e) {
      return false; // kept: the same request is then a REPLAY, a new one is served
    }
  }

  @Override
  public Duration window() {
    return window;
  }
}
