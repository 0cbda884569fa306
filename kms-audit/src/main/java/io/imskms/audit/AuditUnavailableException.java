package io.imskms.audit;

/**
 * A record could not be made durable (write or fsync failed, queue full, log closed): the
 * operation it records must not be released. Stable API code: {@code AUDIT_UNAVAILABLE}.
 */
public final class AuditUnavailableException extends Exception {
  public AuditUnavailableException(String message) {
    super(message);
  }
}
