package io.imskms.hsm;

/**
 * A failure of an HSM operation. The {@link Kind} says what the caller can do about it; the raw
 * PKCS#11 return value ({@code CKR_*}) is kept for logs and never needs to reach a client. Messages
 * never contain key material or PINs.
 */
public class HsmException extends Exception {
  /** The categories a caller acts on. */
  public enum Kind {
    /** The token is unreachable, logged out, being recycled or saturated. Retry later. */
    UNAVAILABLE,
    /** No key with that label and version exists in the token. */
    KEY_NOT_FOUND,
    /** A tag, MAC or wrapped-key integrity check failed: the input was not made with this key. */
    INTEGRITY,
    /** The request breaks the key-custody policy (wrong usage, stale reference, bad length...). */
    POLICY,
    /** The token lacks a mechanism or is set up wrongly; the message names what is missing. */
    MISCONFIGURATION
  }

  /** Marker for "no PKCS#11 return value involved". */
  public static final long NO_CKR = -1;

  private final Kind kind;
  private final long ckr;

  public HsmException(Kind kind, String message) {
    this(kind, message, NO_CKR, null);
  }

  public HsmException(Kind kind, String message, long ckr, Throwable cause) {
    super(message, cause);
    this.kind = kind;
    this.ckr = ckr;
  }

  public Kind kind() {
    return kind;
  }

  public boolean isRetryable() {
    return kind == Kind.UNAVAILABLE;
  }

  /** The PKCS#11 CKR_* value behind this failure, or {@link #NO_CKR}. For logs only. */
  public long ckr() {
    return ckr;
  }

  /** The CKR_* name (e.g. "CKR_GENERAL_ERROR") or null. For logs only. */
  public String ckrName() {
    return ckr == NO_CKR ? null : Ckr.name(ckr);
  }

  @Override
  public String getMessage() {
    String m = super.getMessage();
    return ckr == NO_CKR ? kind + ": " + m : kind + ": " + m + " (" + Ckr.name(ckr) + ")";
  }
}
