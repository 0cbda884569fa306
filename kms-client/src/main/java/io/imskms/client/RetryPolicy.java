package io.imskms.client;

import java.time.Duration;
import java.util.function.DoubleSupplier;

/**
 * How a transport binding of the SDK retries a request that got no answer (connection refused,
 * reset before any answer, TLS handshake failure, no byte of answer within the timeout): at most
 * {@code maxAttempts} attempts in all, with exponential backoff and jitter between them.
 *
 * <p>Security guarantees: a binding that follows this policy rebuilds the request for every
 * attempt (a fresh nonce and timestamp from the SDK), so the KMS never sees the same bytes twice
 * and its replay defence is never the reason a retry fails; a request that got an HTTP answer, of
 * any status, is never retried.
 *
 * <p>The delay before retry {@code n} (1 = the second attempt) is drawn uniformly from
 * {@code [d/2, d]} where {@code d = min(maxBackoff, initialBackoff * 2^(n-1))} ("equal jitter"):
 * never zero, so a fleet of clients that lost the same node does not come back in lockstep.
 */
public final class RetryPolicy {
  /** Four attempts, 50 ms then 100 ms then 200 ms (each halved at random), at most 1 s. */
  public static final RetryPolicy DEFAULT = new RetryPolicy(4, Duration.ofMillis(50),
      Duration.ofSeconds(1));
  /** One attempt: nothing is retried. */
  public static final RetryPolicy NONE = new RetryPolicy(1, Duration.ofMillis(1),
      Duration.ofMillis(1));

  /** More would only hide an outage from the caller. */
  static final int MAX_ATTEMPTS = 20;

  private final int maxAttempts;
  private final Duration initialBackoff;
  private final Duration maxBackoff;

  /**
   * @param maxAttempts attempts in all, 1 to 20 (1 = no retry)
   * @param initialBackoff the delay before the first retry, before jitter; positive
   * @param maxBackoff the largest delay before jitter; at least {@code initialBackoff}
   */
  public RetryPolicy(int maxAttempts, Duration initialBackoff, Duration maxBackoff) {
    if (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS) {
      throw new IllegalArgumentException("maxAttempts must be 1 to " + MAX_ATTEMPTS);
    }
    if (initialBackoff == null || initialBackoff.isNegative() || initialBackoff.isZero()) {
      throw new IllegalArgumentException("initialBackoff must be positive");
    }
    if (maxBackoff == null || maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IllegalArgumentException("maxBackoff must be at least initialBackoff");
    }
    this.maxAttempts = maxAttempts;
    this.initialBackoff = initialBackoff;
    this.maxBackoff = maxBackoff;
  }

  public int maxAttempts() {
    return maxAttempts;
  }

  public Duration initialBackoff() {
    return initialBackoff;
  }

  public Duration maxBackoff() {
    return maxBackoff;
  }

  /** Whether attempt {@code attempt} (1-based) that got no answer may be followed by another. */
  public boolean mayRetryAfter(int attempt) {
    return attempt >= 1 && attempt < maxAttempts;
  }

  /**
   * The delay before retry {@code retry} (1 = before the second attempt).
   *
   * @param unitRandom uniform in [0, 1), e.g. {@code ThreadLocalRandom.current()::nextDouble}
   */
  public Duration backoffBefore(int retry, DoubleSupplier unitRandom) {
    if (retry < 1) {
      throw new IllegalArgumentException("retry counts from 1");
    }
    long cap = maxBackoff.toNanos();
    long d = initialBackoff.toNanos();
    for (int i = 1; i < retry && d < cap; i++) {
      d = d > cap / 2 ? cap : d * 2;
    }
    d = Math.min(d, cap);
    double u = unitRandom.getAsDouble();
    if (!(u >= 0 && u < 1)) {
      u = 0;
    }
    return Duration.ofNanos(d / 2 + (long) ((d - d / 2) * u));
  }

  @Override
  public String toString() {
    return "RetryPolicy[" + maxAttempts + " attempts, backoff " + initialBackoff.toMillis()
        + ".." + maxBackoff.toMillis() + " ms with jitter]";
  }
}
