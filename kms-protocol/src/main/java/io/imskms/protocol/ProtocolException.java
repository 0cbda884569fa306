package io.imskms.protocol;

import java.util.Objects;

/**
 * A message broke a rule of docs/protocol.md. Carries a stable {@link ErrorCode}; the message is a
 * short fixed description that never echoes input bytes.
 */
public class ProtocolException extends Exception {
  private final ErrorCode code;

  public ProtocolException(ErrorCode code, String message) {
    super(code + ": " + message);
    this.code = Objects.requireNonNull(code);
  }

  public ErrorCode code() {
    return code;
  }

  static ProtocolException malformed(String what) {
    return new ProtocolException(ErrorCode.MALFORMED, what);
  }
}
