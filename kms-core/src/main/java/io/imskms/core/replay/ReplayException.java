package io.imskms.core.replay;

/**
 * A request was refused by the replay defence ({@link ReplayGuard}). The {@link #reason()} is stable and may be
 * mapped to a client-visible error code; the message is for logs and never contains the nonce or
 * the principal.
 */
public final class ReplayException extends Exception {
  /** Why the request was refused. */
  public enum Reason {
    /** The request's timestamp is outside the acceptance window (too old or too far ahead). */
    STALE_TIMESTAMP,
    /** The same principal already used this nonce within the window. */
    REPLAY,
    /**
     * The cache is full of unexpired entries. The request may be genuine; the client may retry
     * later (an API answers 503 with Retry-After).
     */
    CAPACITY,
    /**
     * The shared replay store (Redis) did not answer in time, failed, or cannot vouch for its
     * records: the request is refused, never served unchecked; the client may retry later with
     * a new nonce (an API answers 503 REPLAY_STORE_UNAVAILABLE with Retry-After).
     */
    STORE_UNAVAILABLE
  }

  private final Reason reason;

  /** Creates the exception; it carries no stack trace, since refusals are routine under attack. */
  public ReplayException(Reason reason, String message) {
    super(message, null, false, false);
    this.reason = reason;
  }

  /** Why the request was refused. */
  public Reason reason() {
    return reason;
  }

  @Override
  public String getMessage() {
    return reason + ": " + super.getMessage();
  }
}
