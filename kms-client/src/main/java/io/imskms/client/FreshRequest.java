package io.imskms.client;

import io.imskms.protocol.ProtocolException;

/**
 * Builds a new request on every call (a fresh nonce, timestamp and IV from the SDK), for
 * transport bindings that retry: each attempt sends different bytes, so a request that reached a
 * KMS node before its connection broke cannot make the retry look like a replay.
 *
 * @param <P> the SDK's pending request, e.g. {@link Bootstrapping.Pending}
 */
@FunctionalInterface
public interface FreshRequest<P extends PendingRequest> {
  P build() throws ProtocolException;
}
