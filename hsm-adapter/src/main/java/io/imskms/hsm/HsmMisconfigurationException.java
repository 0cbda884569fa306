package io.imskms.hsm;

/** The token lacks a mechanism or is set up wrongly. */
public final class HsmMisconfigurationException extends HsmException {
  public HsmMisconfigurationException(String message) {
    super(Kind.MISCONFIGURATION, message);
  }

  public HsmMisconfigurationException(String message, long ckr, Throwable cause) {
    super(Kind.MISCONFIGURATION, message, ckr, cause);
  }
}
