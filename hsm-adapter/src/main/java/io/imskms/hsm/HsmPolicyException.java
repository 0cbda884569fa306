package io.imskms.hsm;

/** The request breaks the key-custody policy. */
public final class HsmPolicyException extends HsmException {
  public HsmPolicyException(String message) {
    super(Kind.POLICY, message);
  }

  public HsmPolicyException(String message, long ckr, Throwable cause) {
    super(Kind.POLICY, message, ckr, cause);
  }
}
