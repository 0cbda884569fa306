package io.imskms.api;

/**
 * Every failure the API reports, with its HTTP status and title: the one table from which
 * problem documents are made ({@link Problems}). The constant's name is the problem's stable
 * {@code code}; the protocol's {@link io.imskms.protocol.ErrorCode}s appear under the same
 * names.
 */
enum Failure {
  // Transport and request shape.
  INVALID_JSON(400, "The request body is not valid JSON"),
  MISSING_BODY(400, "The request body is missing"),
  SCHEMA_VIOLATION(400, "The request body does not match the API schema"),
  BAD_BASE64(400, "A binary field is not unpadded base64url"),
  BAD_REQUEST(400, "The request is malformed"),
  REQUEST_TIMEOUT(408, "The request was not received in time"),
  BODY_TOO_LARGE(413, "The request body is too large"),
  UNSUPPORTED_MEDIA_TYPE(415, "The request body must be application/json"),
  NOT_FOUND(404, "No such resource"),
  METHOD_NOT_ALLOWED(405, "Method not allowed on this resource"),
  // Mutual TLS.
  CLIENT_CERT_REQUIRED(401, "A client certificate is required"),
  CLIENT_CERT_IDENTITY_MISMATCH(403,
      "The client certificate does not name the principal of the request"),
  // Protocol (io.imskms.protocol.ErrorCode).
  MALFORMED(400, "A protocol message is malformed"),
  IDENTITY_MISMATCH(403, "An identity does not match the protected one"),
  WRONG_MAILBOX(403, "The mailbox is not the registered mailbox of the recipient"),
  NOT_AUTHORISED(403, "The caller may not do this"),
  INTEGRITY(401, "A tag, MAC or wrapped key did not verify"),
  EXPIRED_TICKET(410, "The ticket has expired"),
  EXPIRED_BTID(401, "The B-TID has expired: bootstrap again"),
  STALE_TIMESTAMP(409, "The request's timestamp is outside the accepted window"),
  REPLAY(409, "The request was already seen"),
  UNKNOWN_KEY_VERSION(400, "The message names a key version the KMS does not accept"),
  UNKNOWN_PRINCIPAL(403, "The identity is not served by this KMS"),
  PRINCIPAL_REVOKED(403, "The principal, or this credential of it, is revoked"),
  KEY_RETIRED(410, "The message names a retired key version: bootstrap again (a ticket made"
      + " with it can no longer be served)"),
  // Availability.
  HSM_UNAVAILABLE(503, "The HSM is unavailable; retry later"),
  BUSY(503, "The KMS is saturated; retry later"),
  SERVER_BUSY(503, "Too many requests in progress; retry later"),
  REPLAY_STORE_UNAVAILABLE(503, "The shared replay store cannot check the request; nothing was"
      + " served; retry later with a new nonce"),
  AUDIT_UNAVAILABLE(503, "The audit log cannot record the operation; nothing was released; retry"
      + " later"),
  INTERNAL(500, "Internal error");

  private final int status;
  private final String title;

  Failure(int status, String title) {
    this.status = status;
    this.title = title;
  }

  int status() {
    return status;
  }

  String title() {
    return title;
  }

  /** Whether the client should retry after the Retry-After delay. */
  boolean retryable() {
    return status == 503;
  }

  /** The problem type URI. */
  String type() {
    return "urn:imskms:problem:" + name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
  }

  /** The failure for a protocol error code of the same name; INTERNAL for an unknown one. */
  static Failure ofProtocol(io.imskms.protocol.ErrorCode code) {
    try {
      return valueOf(code.name());
    } catch (IllegalArgumentException e) {
      return INTERNAL;
    }
  }
}
