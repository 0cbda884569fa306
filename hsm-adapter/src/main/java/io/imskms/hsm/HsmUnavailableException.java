package io.imskms.hsm;

/** The HSM cannot be reached, is not logged in, is being recycled or is saturated; retryable. */
public final class HsmUnavailableException extends HsmException {
  public HsmUnavailableException(String message) {
    super(Kind.UNAVAILABLE, message);
  }

  public HsmUnavailableException(String message, long ckr, Throwable cause) {
    super(Kind.UNAVAILABLE, message, ckr, cause);
  }
}
