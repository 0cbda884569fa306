package io.imskms.hsm;

/** A tag, MAC or wrapped-key integrity check failed. */
public final class HsmIntegrityException extends HsmException {
  public HsmIntegrityException(String message) {
    super(Kind.INTEGRITY, message);
  }

  public HsmIntegrityException(String message, long ckr, Throwable cause) {
    super(Kind.INTEGRITY, message, ckr, cause);
  }
}
