package io.imskms.mailbox;

/**
 * The KMS refused a request: the HTTP status and the stable {@code code} of its RFC 9457 problem
 * document (docs/api.md, "Errors"), with the request id for the KMS's log.
 */
public final class KmsProblemException extends Exception {
  private final int status;
  private final String code;
  private final String requestId;

  public KmsProblemException(int status, String code, String requestId) {
    super("KMS answered " + status + " " + code + (requestId == null ? "" : " (request id "
        + requestId + ")"));
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  public int status() {
    return status;
  }

  /** The problem's {@code code}, e.g. {@code NOT_AUTHORISED}; {@code UNKNOWN} if none. */
  public String code() {
    return code;
  }

  public String requestId() {
    return requestId;
  }
}
