package io.imskms.core.replay;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The nonces one request has consumed in a {@link ReplayGuard}, so that they can be given back
 * when the request then fails for a reason on the server's side. Without this, a request whose
 * nonce was recorded and which then met an unavailable HSM could never be served: every retry of
 * it would be a REPLAY (for a stored offer, its message could never get a key).
 *
 * <p>Security guarantees: {@link #release()} forgets only the pairs this object recorded, and
 * the caller calls it only when no answer to the request left the server; an answered request
 * keeps its nonces for the whole window. Nonces are recorded only after the request was
 * authenticated (the caller's duty, as for {@link ReplayGuard#checkAndRecord}). One instance per
 * request and thread; not thread-safe.
 */
public final class RequestNonces {
  private record Recorded(String principal, byte[] nonce, Instant timestamp) {}

  private final ReplayGuard cache;
  private final List<Recorded> recorded = new ArrayList<>(2);

  public RequestNonces(ReplayGuard cache) {
    this.cache = Objects.requireNonNull(cache);
  }

  /** {@link ReplayGuard#checkAndRecord}, remembering the pair if it was accepted. */
  public void checkAndRecord(String principal, byte[] nonce, Instant timestamp)
      throws ReplayException {
    cache.checkAndRecord(principal, nonce, timestamp);
    recorded.add(new Recorded(principal, nonce.clone(), timestamp));
  }

  /** Gives back every pair recorded so far; the request was not answered. */
  public void release() {
    for (Recorded r : recorded) {
      cache.forget(r.principal(), r.nonce(), r.timestamp());
    }
    recorded.clear();
  }
}
