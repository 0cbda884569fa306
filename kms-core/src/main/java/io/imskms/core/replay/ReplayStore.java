package io.imskms.core.replay;

/**
 * Where a {@link SharedReplayGuard} records accepted requests: a store shared by every node, which
 * sees only 16-byte digests of (principal, nonce), never the identities or nonces themselves.
 *
 * <p>Contract: {@link #recordIfAbsent} is one atomic step in the store (two nodes recording the
 * same digest at once: exactly one gets {@code true}); a record lives at least {@code ttlMillis};
 * every method either answers within the implementation's bounded time or throws {@link
 * ReplayStoreException}. Implementations are thread-safe and are called from worker threads,
 * never from an event loop.
 */
public interface ReplayStore {
  /**
   * Records {@code digest} unless a record of it exists.
   *
   * @param digest 16 bytes ({@link ReplayDigest})
   * @param stamp the request's timestamp (epoch ms), kept as the record's value so that {@link
   *     #remove} takes back only this request's record
   * @param ttlMillis how long the record must live, at least 1
   * @return true if recorded now, false if a record already existed
   * @throws ReplayStoreException if the store did not answer in time, failed, or cannot say
   *     whether the record is durable (then the caller refuses the request)
   */
  boolean recordIfAbsent(byte[] digest, long stamp, long ttlMillis) throws ReplayStoreException;

  /** Removes the record of {@code digest} if its value is {@code stamp}; true if removed. */
  boolean remove(byte[] digest, long stamp) throws ReplayStoreException;

  /**
   * Timestamps before this instant (epoch ms) are refused with STORE_UNAVAILABLE: set when the
   * store is found to have lost its records (restarted empty, flushed), so that a request it had
   * recorded cannot be replayed for the rest of its window. {@link Long#MIN_VALUE} when none.
   */
  long floorMillis();
}
