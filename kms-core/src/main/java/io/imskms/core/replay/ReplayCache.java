package io.imskms.core.replay;

import io.imskms.core.replay.ReplayException.Reason;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Replay defence for the stateless KMS: every authenticated request carries a 16-byte nonce and a
 * timestamp, and is served only if the timestamp is within {@code ±window} of this server's clock
 * and the same principal has not used the same nonce while that timestamp was acceptable.
 *
 * <p>Security guarantees: within one process, a (principal, nonce) pair is accepted at most once
 * for as long as its timestamp is acceptable, i.e. until {@code timestamp + window}; after that
 * the timestamp itself is refused as stale, so a replay is refused at any time. This assumes the
 * caller has already verified that the nonce and the timestamp are covered by the request's
 * authentication (MAC or signature) — call this <em>after</em> that check, so that unauthenticated
 * traffic cannot fill the cache. The cache fails closed: when it holds {@code maxEntries}
 * unexpired entries it refuses new requests with {@link Reason#CAPACITY} rather than forgetting an
 * entry early, because forgetting an unexpired entry would let exactly that request be replayed;
 * a full cache costs availability, never security. Size {@code maxEntries} for the peak request
 * rate times {@code 2 × window} (an entry lives at most that long), with margin; an authenticated
 * principal that floods can still exhaust it, which rate limiting in front of the KMS must prevent.
 * The cache is per process: several KMS instances behind a load balancer share a store instead
 * ({@link SharedReplayGuard}, docs/scaling.md).
 *
 * <p>Memory: the cache keeps, per entry, a 16-byte digest of (principal, nonce) and the expiry
 * time in one 40-byte object, plus its 32-byte hash-table node, its share of the hash table and
 * a reference in an expiry bucket: about 100 bytes per entry on a 64-bit JVM with compressed
 * references (99 bytes measured with 200 000 entries on JDK 17 by
 * {@code ReplayCacheTest.memoryPerEntry_isMeasuredAndBounded}); budget
 * {@code 128 × maxEntries} bytes of heap, e.g. 128 MiB for a million entries. The principal and the nonce themselves are not kept. The digest is
 * SHA-256("imskms/replay/v1" ‖ len(principal) ‖ principal ‖ nonce) truncated to 128 bits, so an
 * accidental or engineered collision between two pairs needs about 2^64 work.
 *
 * <p>Thread-safe; {@link #checkAndRecord} takes no global lock on its fast path (a concurrent hash
 * map, an atomic counter, and a short lock on one expiry bucket). Expired entries are evicted a
 * whole bucket at a time, at most {@code window / 16} after they expire, by whichever caller comes
 * first, and immediately before a request would be refused for capacity.
 */
public final class ReplayCache implements ReplayGuard {
  /** The nonce length this cache accepts. */
  public static final int NONCE_LENGTH = 16;

  /** The largest window accepted; the protocol uses minutes. */
  public static final Duration MAX_WINDOW = Duration.ofDays(1);

  private static final int BUCKETS_PER_WINDOW = 32;

  private final Duration window;
  private final long windowMillis;
  private final long bucketMillis;
  private final int maxEntries;
  private final Clock clock;
  /** Entry to itself: the key is the digest, the value carries the expiry and an identity. */
  private final ConcurrentHashMap<Entry, Entry> entries = new ConcurrentHashMap<>();
  /** Expiry bucket number ({@code expiresAt / bucketMillis}) to the entries that expire in it. */
  private final ConcurrentSkipListMap<Long, Bucket> buckets = new ConcurrentSkipListMap<>();
  /** Entries in the map plus requests that reserved a place; never more than maxEntries. */
  private final AtomicInteger reserved = new AtomicInteger();
  private final ReentrantLock evictionLock = new ReentrantLock();
  private volatile long nextEvictionMillis = Long.MIN_VALUE;

  /**
   * Creates an empty cache.
   *
   * @param window how far a request's timestamp may be from the clock, either way; at least 1 ms
   *     and at most {@link #MAX_WINDOW}
   * @param maxEntries the most entries kept at once (each about 100 bytes; see above); at least 1
   * @param clock the server's clock ({@code Clock.systemUTC()} in production)
   */
  public ReplayCache(Duration window, int maxEntries, Clock clock) {
    Objects.requireNonNull(window, "window");
    if (window.compareTo(Duration.ofMillis(1)) < 0 || window.compareTo(MAX_WINDOW) > 0) {
      throw new IllegalArgumentException("replay window must be between 1 ms and " + MAX_WINDOW);
    }
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be at least 1");
    }
    this.window = window;
    this.windowMillis = window.toMillis();
    this.bucketMillis = Math.max(1, windowMillis / BUCKETS_PER_WINDOW);
    this.maxEntries = maxEntries;
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /**
   * Accepts a request once: checks the timestamp against the clock, then records
   * (principal, nonce) unless it is already recorded and unexpired. Both checks and the recording
   * are one atomic step per pair, so two concurrent copies of a request are never both accepted.
   *
   * @param principal the authenticated identity the request is from, in one canonical form (the
   *     same principal must always be passed the same way; nonces of different principals never
   *     collide)
   * @param nonce the request's nonce, exactly {@link #NONCE_LENGTH} bytes; not retained
   * @param timestamp the request's (authenticated) timestamp
   * @throws ReplayException with {@link Reason#STALE_TIMESTAMP} if the timestamp is more than the
   *     window before or after the clock, {@link Reason#REPLAY} if the pair was already accepted
   *     and is unexpired, {@link Reason#CAPACITY} if the cache is full of unexpired entries
   * @throws IllegalArgumentException if the nonce does not have {@link #NONCE_LENGTH} bytes
   */
  @Override
  public void checkAndRecord(String principal, byte[] nonce, Instant timestamp)
      throws ReplayException {
    Objects.requireNonNull(principal, "principal");
    Objects.requireNonNull(nonce, "nonce");
    Objects.requireNonNull(timestamp, "timestamp");
    if (nonce.length != NONCE_LENGTH) {
      throw new IllegalArgumentException("nonce must be " + NONCE_LENGTH + " bytes");
    }
    long now = clock.millis();
    long t = checkWindow(now, timestamp, window);
    if (now >= nextEvictionMillis && evictionLock.tryLock()) {
      try {
        evictExpired(now);
      } finally {
        evictionLock.unlock();
      }
    }

    Entry entry = Entry.of(principal, nonce, t + windowMillis);
    if (!reserve()) {
      evictionLock.lock();
      try {
        evictExpired(clock.millis());
      } finally {
        evictionLock.unlock();
      }
      if (!reserve()) {
        Entry existing = entries.get(entry);
        if (existing != null && existing.expiresAt >= now) {
          throw new ReplayException(Reason.REPLAY, "nonce already used by this principal");
        }
        throw new ReplayException(Reason.CAPACITY, "replay cache is full (" + maxEntries
            + " unexpired entries)");
      }
    }
    Entry[] displaced = new Entry[1];
    Entry winner = entries.compute(entry, (k, old) -> {
      if (old == null) {
        return entry;
      }
      if (old.expiresAt >= now) {
        return old;
      }
      displaced[0] = old; // expired but not yet evicted: this request takes its place
      return entry;
    });
    if (winner != entry) {
      reserved.decrementAndGet();
      throw new ReplayException(Reason.REPLAY, "nonce already used by this principal");
    }
    if (displaced[0] != null) {
      reserved.decrementAndGet(); // the displaced entry's place is reused
    }
    addToBucket(entry);
  }

  /**
   * Undoes one {@link #checkAndRecord} whose request was then not served for a reason on the
   * server's side (HSM unavailable, cache full, internal fault), so that the client can send the
   * very same request again. Removes the entry for (principal, nonce) only if it was recorded
   * with this {@code timestamp}; a pair recorded by another request is left alone.
   *
   * <p>Call it only for a pair that this caller's own {@link #checkAndRecord} accepted and only if
   * no answer to that request left the server: forgetting a pair whose request was answered would
   * let that request be replayed. {@link RequestNonces} does this bookkeeping per request.
   *
   * @return whether an entry was removed
   * @throws IllegalArgumentException if the nonce does not have {@link #NONCE_LENGTH} bytes
   */
  @Override
  public boolean forget(String principal, byte[] nonce, Instant timestamp) {
    Objects.requireNonNull(principal, "principal");
    Objects.requireNonNull(nonce, "nonce");
    Objects.requireNonNull(timestamp, "timestamp");
    if (nonce.length != NONCE_LENGTH) {
      throw new IllegalArgumentException("nonce must be " + NONCE_LENGTH + " bytes");
    }
    long expiresAt;
    try {
      expiresAt = Math.addExact(timestamp.toEpochMilli(), windowMillis);
    } catch (ArithmeticException e) {
      return false; // never recorded: checkAndRecord refuses such timestamps
    }
    Entry probe = Entry.of(principal, nonce, expiresAt);
    boolean[] removed = new boolean[1];
    entries.computeIfPresent(probe, (k, current) -> {
      if (current.expiresAt == expiresAt) {
        removed[0] = true;
        return null;
      }
      return current;
    });
    if (removed[0]) {
      // Its expiry bucket still lists it; eviction skips entries no longer in the map.
      reserved.decrementAndGet();
    }
    return removed[0];
  }

  /** The number of entries held now, including expired ones not yet evicted. */
  public int size() {
    return entries.size();
  }

  /** The most entries this cache holds. */
  public int maxEntries() {
    return maxEntries;
  }

  /** How far a timestamp may be from the clock. */
  @Override
  public Duration window() {
    return window;
  }

  /**
   * The window check shared by every {@link ReplayGuard}: the timestamp as epoch ms if it is
   * within {@code window} of {@code now} either way.
   */
  static long checkWindow(long now, Instant timestamp, Duration window) throws ReplayException {
    long windowMillis = window.toMillis();
    long t;
    try {
      t = timestamp.toEpochMilli();
    } catch (ArithmeticException e) {
      throw new ReplayException(Reason.STALE_TIMESTAMP, "timestamp is out of range");
    }
    if (t < now - windowMillis) {
      throw new ReplayException(Reason.STALE_TIMESTAMP, "timestamp is older than the "
          + window.toSeconds() + " s window");
    }
    if (t > now + windowMillis) {
      throw new ReplayException(Reason.STALE_TIMESTAMP, "timestamp is more than "
          + window.toSeconds() + " s in the future");
    }
    return t;
  }

  private boolean reserve() {
    for (;;) {
      int n = reserved.get();
      if (n >= maxEntries) {
        return false;
      }
      if (reserved.compareAndSet(n, n + 1)) {
        return true;
      }
    }
  }

  private void addToBucket(Entry entry) {
    long index = Math.floorDiv(entry.expiresAt, bucketMillis);
    for (;;) {
      Bucket b = buckets.computeIfAbsent(index, k -> new Bucket());
      if (b.add(entry)) {
        return;
      }
      // The bucket was closed by an eviction that started after this entry was placed: its
      // entry has expired already, so a fresh bucket, evicted next time, will do.
      buckets.remove(index, b);
    }
  }

  /** Drops every bucket whose entries have all expired. Caller holds evictionLock. */
  private void evictExpired(long now) {
    for (;;) {
      Map.Entry<Long, Bucket> first = buckets.firstEntry();
      if (first == null || (first.getKey() + 1) * bucketMillis > now) {
        break;
      }
      buckets.remove(first.getKey(), first.getValue());
      for (Entry e : first.getValue().close()) {
        boolean[] removed = new boolean[1];
        entries.computeIfPresent(e, (k, current) -> {
          if (current == e) {
            removed[0] = true;
            return null;
          }
          return current; // a newer request with the same digest replaced it; keep that one
        });
        if (removed[0]) {
          reserved.decrementAndGet();
        }
      }
    }
    nextEvictionMillis = now + bucketMillis;
  }

  /**
   * One cache entry, used as its own key: equality is the 128-bit digest; {@code expiresAt} and
   * object identity tell a live entry from an expired one with the same digest.
   */
  private static final class Entry {
    final long hi;
    final long lo;
    /** Epoch milliseconds after which the request's timestamp is stale anyway. */
    final long expiresAt;

    private Entry(long hi, long lo, long expiresAt) {
      this.hi = hi;
      this.lo = lo;
      this.expiresAt = expiresAt;
    }

    static Entry of(String principal, byte[] nonce, long expiresAt) {
      byte[] d = ReplayDigest.sha256(principal, nonce);
      return new Entry(toLong(d, 0), toLong(d, 8), expiresAt);
    }

    private static long toLong(byte[] b, int off) {
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v = (v << 8) | (b[off + i] & 0xff);
      }
      return v;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Entry && ((Entry) o).hi == hi && ((Entry) o).lo == lo;
    }

    @Override
    public int hashCode() {
      return (int) hi;
    }
  }

  /** The entries that expire in one time slice; closed once evicted. */
  private static final class Bucket {
    private static final Entry[] NONE = new Entry[0];
    private Entry[] items = new Entry[16];
    private int size;
    private boolean closed;

    synchronized boolean add(Entry e) {
      if (closed) {
        return false;
      }
      if (size == items.length) {
        items = Arrays.copyOf(items, size + (size >> 1));
      }
      items[size++] = e;
      return true;
    }

    synchronized Entry[] close() {
      closed = true;
      Entry[] out = size == items.length ? items : Arrays.copyOf(items, size);
      items = NONE;
      size = 0;
      return out;
    }
  }
}
