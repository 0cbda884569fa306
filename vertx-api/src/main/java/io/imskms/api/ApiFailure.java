package io.imskms.api;

/**
 * A failure decided by the API layer itself (mTLS, timeouts, saturation, decoding). Carries no
 * stack trace: these are routine answers, not bugs.
 */
final class ApiFailure extends Exception {
  private final Failure failure;
  private final String pointer;

  ApiFailure(Failure failure) {
    this(failure, null);
  }

  ApiFailure(Failure failure, String pointer) {
    super(failure.name(), null, false, false);
    this.failure = failure;
    this.pointer = pointer;
  }

  Failure failure() {
    return failure;
  }

  /** JSON pointer of the offending member, or null. */
  String pointer() {
    return pointer;
  }
}
