package io.imskms.core;

import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRetiredException;
import io.imskms.core.keys.UnknownKeyVersionException;
import io.imskms.core.replay.ReplayException;
import io.imskms.hsm.HsmException;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ErrorResponse;
import io.imskms.protocol.ProtocolException;
import java.util.Objects;

/**
 * A refused request. The {@link ErrorCode} is all a client learns ({@link #toErrorResponse()});
 * the message and cause are for logs and never hold key material, nonces or PINs. Translation
 * from the adapter's, the replay cache's and the codec's exceptions happens here and only here.
 */
public final class KmsException extends Exception {
  private final ErrorCode code;

  public KmsException(ErrorCode code, String message) {
    this(code, message, null);
  }

  public KmsException(ErrorCode code, String message, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = Objects.requireNonNull(code);
  }

  public ErrorCode code() {
    return code;
  }

  /**
   * Whether the request failed for a reason on the KMS's side (HSM unavailable, saturated,
   * internal fault) rather than because of what the client sent. Such a request was not served
   * and may be sent again unchanged, so it must not keep the nonces it consumed.
   */
  public boolean serverSide() {
    return code == ErrorCode.HSM_UNAVAILABLE || code == ErrorCode.BUSY
        || code == ErrorCode.INTERNAL || code == ErrorCode.REPLAY_STORE_UNAVAILABLE;
  }

  /** The bytes sent to the client: version ‖ 0x7f ‖ code. */
  public byte[] toErrorResponse() {
    return new ErrorResponse(code).encode();
  }

  public static KmsException of(ProtocolException e) {
    return new KmsException(e.code(), e.getMessage(), e);
  }

  /**
   * HSM failures: INTEGRITY stays INTEGRITY (a tag, MAC or wrapped key made with another key or
   * altered), UNAVAILABLE becomes HSM_UNAVAILABLE, KEY_NOT_FOUND becomes UNKNOWN_KEY_VERSION, and
   * POLICY / MISCONFIGURATION (a KMS bug or set-up fault, not the client's doing) become INTERNAL.
   */
  public static KmsException of(HsmException e) {
    ErrorCode c;
    switch (e.kind()) {
      case INTEGRITY:
        c = ErrorCode.INTEGRITY;
        break;
      case UNAVAILABLE:
        c = ErrorCode.HSM_UNAVAILABLE;
        break;
      case KEY_NOT_FOUND:
        c = ErrorCode.UNKNOWN_KEY_VERSION;
        break;
      default:
        c = ErrorCode.INTERNAL;
        break;
    }
    return new KmsException(c, "HSM " + e.kind(), e);
  }

  public static KmsException of(ReplayException e) {
    ErrorCode c;
    switch (e.reason()) {
      case STALE_TIMESTAMP:
        c = ErrorCode.STALE_TIMESTAMP;
        break;
      case REPLAY:
        c = ErrorCode.REPLAY;
        break;
      case STORE_UNAVAILABLE:
        c = ErrorCode.REPLAY_STORE_UNAVAILABLE;
        break;
      default:
        c = ErrorCode.BUSY;
        break;
    }
    return new KmsException(c, e.getMessage(), e);
  }

  public static KmsException of(UnknownKeyVersionException e) {
    return new KmsException(ErrorCode.UNKNOWN_KEY_VERSION, e.getMessage(), e);
  }

  public static KmsException of(KeyRetiredException e) {
    return new KmsException(ErrorCode.KEY_RETIRED, e.getMessage(), e);
  }

  public static KmsException unknownVersion(KeyPurpose p, int v) {
    return new KmsException(ErrorCode.UNKNOWN_KEY_VERSION, "no " + p.label() + " v" + v);
  }
}
