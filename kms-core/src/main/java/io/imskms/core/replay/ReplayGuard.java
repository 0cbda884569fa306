package io.imskms.core.replay;

import java.time.Duration;
import java.time.Instant;

/**
 * The replay defence as the protocol service sees it: accept each authenticated (principal, nonce)
 * at most once while its timestamp is acceptable, whatever holds the record. {@link ReplayCache}
 * keeps it in this process (one node); {@link SharedReplayGuard} keeps it in a store shared by
 * every node behind a load balancer (Redis, docs/scaling.md).
 *
 * <p>Security guarantees: {@link #checkAndRecord} returns normally only if the timestamp is within
 * {@link #window()} of the server's clock and the pair was not accepted before (by any node
 * sharing the guard's store) while that timestamp was acceptable; when the guard cannot tell — a
 * full cache, an unreachable or unanswering store — it refuses, never accepts. Call it only after
 * the request's authentication has been checked, so that unauthenticated traffic cannot fill it.
 * Implementations never keep or log the principal or the nonce in clear.
 */
public interface ReplayGuard {
  /**
   * Accepts a request once (see the interface's guarantees).
   *
   * @param principal the authenticated identity, in one canonical form
   * @param nonce the request's nonce, exactly {@link ReplayCache#NONCE_LENGTH} bytes; not retained
   * @param timestamp the request's authenticated timestamp
   * @throws ReplayException STALE_TIMESTAMP, REPLAY, CAPACITY (in-process cache full) or
   *     STORE_UNAVAILABLE (the shared store did not answer in time, failed, or lost its records)
   * @throws IllegalArgumentException if the nonce does not have 16 bytes
   */
  void checkAndRecord(String principal, byte[] nonce, Instant timestamp) throws ReplayException;

  /**
   * Undoes one accepted {@link #checkAndRecord} whose request was not answered, removing the
   * pair only if it was recorded with this {@code timestamp} (see {@link ReplayCache#forget}).
   * Best effort: a shared store that cannot be reached keeps the record, so the very same request
   * is then refused as a replay until its window passes (the client sends a new one).
   *
   * @return whether a record was removed
   */
  boolean forget(String principal, byte[] nonce, Instant timestamp);

  /** How far a timestamp may be from the clock, and how long a pair is remembered. */
  Duration window();
}
