package io.imskms.core.replay;

/**
 * The shared replay store did not answer within its bounded time, failed, or cannot vouch for
 * its records. The message names the store's condition (timeout, connection refused, ...) and
 * never a digest, principal, nonce or password.
 */
public final class ReplayStoreException extends Exception {
  public ReplayStoreException(String message) {
    super(message, null, false, false);
  }

  public ReplayStoreException(String message, Throwable cause) {
    super(message, cause, false, false);
  }
}
