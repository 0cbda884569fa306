package io.imskms.client;

/**
 * A request the SDK built and the answer it waits for: what a transport binding sends is
 * {@link #requestBytes()}; what it gets back goes to the SDK's matching {@code open}/{@code
 * finish} method with this object, which holds the request's nonce and keys.
 */
public interface PendingRequest {
  /** The encoded request, the same bytes on every call. */
  byte[] requestBytes();
}
