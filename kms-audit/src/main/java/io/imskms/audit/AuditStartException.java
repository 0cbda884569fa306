package io.imskms.audit;

/** The audit log cannot be opened: the server must not start. The message names what is wrong. */
public final class AuditStartException extends Exception {
  public AuditStartException(String message) {
    super(message);
  }

  public AuditStartException(String message, Throwable cause) {
    super(message, cause);
  }
}
