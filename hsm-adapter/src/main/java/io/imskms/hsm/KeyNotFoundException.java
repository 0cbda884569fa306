package io.imskms.hsm;

/** No key with the requested label and version exists in the token. */
public final class KeyNotFoundException extends HsmException {
  public KeyNotFoundException(String message) {
    super(Kind.KEY_NOT_FOUND, message);
  }

  public KeyNotFoundException(String message, long ckr, Throwable cause) {
    super(Kind.KEY_NOT_FOUND, message, ckr, cause);
  }
}
