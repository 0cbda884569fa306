package io.imskms.protocol;

/**
 * The only failure information a client ever receives. Names and numbers are stable: they are part
 * of the wire contract (docs/protocol.md, "Error codes"). A code says which rule was broken, never
 * which byte or which key.
 */
public enum ErrorCode {
  /** Not a well-formed message: wrong version or type, truncated, oversize, trailing bytes. */
  MALFORMED(1),
  /** A plain identity differs from the one inside an encrypted part, a ticket or a B-TID. */
  IDENTITY_MISMATCH(2),
  /** ID-Bm is not the registered mailbox of ID-B. */
  WRONG_MAILBOX(3),
  /** The caller is authenticated but may not do this (wrong role, not the ticket's recipient). */
  NOT_AUTHORISED(4),
  /** A tag, MAC or wrapped key did not verify: altered, or made with another key. */
  INTEGRITY(5),
  /** The ticket's retention period is over. */
  EXPIRED_TICKET(6),
  /** The B-TID's lifetime is over: bootstrap again. */
  EXPIRED_BTID(7),
  /** The request's timestamp is outside the accepted window. */
  STALE_TIMESTAMP(8),
  /** The request's nonce was already seen within the window. */
  REPLAY(9),
  /** A message names a long-term key version the KMS does not have (or no longer accepts). */
  UNKNOWN_KEY_VERSION(10),
  /** The identity is not a user or mailbox the KMS serves. */
  UNKNOWN_PRINCIPAL(11),
  /** The HSM is unreachable or busy; retry later. */
  HSM_UNAVAILABLE(12),
  /** Anything else: an internal failure. Nothing more is said. */
  INTERNAL(13),
  /** The KMS is saturated (e.g. the replay cache is full of unexpired entries); retry later. */
  BUSY(14),
  /** A message names a long-term key version the operator retired: start again. */
  KEY_RETIRED(15),
  /**
   * The principal is revoked by the operator, or the credential (or a B-TID made from it) is of
   * an older generation than the principal's current one (it was re-enrolled).
   */
  PRINCIPAL_REVOKED(16),
  /**
   * The shared replay store (Redis, several nodes) did not answer in time or cannot vouch for its
   * records: the request was refused, never served unchecked; retry later with a new nonce.
   */
  REPLAY_STORE_UNAVAILABLE(17);

  private final int number;

  ErrorCode(int number) {
    this.number = number;
  }

  /** The stable number of this code (u8 on the wire). */
  public int number() {
    return number;
  }

  /** The code with this number, or {@link #MALFORMED} for an unknown one. */
  public static ErrorCode ofNumber(int n) {
    for (ErrorCode c : values()) {
      if (c.number == n) {
        return c;
      }
    }
    return MALFORMED;
  }
}
