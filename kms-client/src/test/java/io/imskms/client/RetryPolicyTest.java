package io.imskms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {
  private final RetryPolicy p = new RetryPolicy(5, Duration.ofMillis(100), Duration.ofMillis(500));

  @Test
  void backoff_doublesPerRetry_upToTheCap() {
    // The top of each range (u -> 1): 100, 200, 400, then capped at 500.
    assertEquals(100, Math.round(p.backoffBefore(1, () -> 0.999_999_999).toNanos() / 1e6));
    assertEquals(200, Math.round(p.backoffBefore(2, () -> 0.999_999_999).toNanos() / 1e6));
    assertEquals(400, Math.round(p.backoffBefore(3, () -> 0.999_999_999).toNanos() / 1e6));
    assertEquals(500, Math.round(p.backoffBefore(4, () -> 0.999_999_999).toNanos() / 1e6));
    assertEquals(500, Math.round(p.backoffBefore(19, () -> 0.999_999_999).toNanos() / 1e6));
  }

  @Test
  void backoff_isNeverLessThanHalfTheStep_soItIsNeverZero() {
    assertEquals(Duration.ofMillis(50), p.backoffBefore(1, () -> 0.0));
    assertEquals(Duration.ofMillis(100), p.backoffBefore(2, () -> 0.0));
    assertEquals(Duration.ofMillis(250), p.backoffBefore(10, () -> 0.0));
  }

  @Test
  void backoff_isJittered_withinItsRange() {
    Random r = new Random(42);
    Set<Long> seen = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      Duration d = p.backoffBefore(3, r::nextDouble);
      assertTrue(d.compareTo(Duration.ofMillis(200)) >= 0 && d.compareTo(Duration.ofMillis(400)) <= 0,
          d.toString());
      seen.add(d.toMillis());
    }
    assertTrue(seen.size() > 50, "jitter spreads the delays: " + seen.size() + " distinct");
  }

  @Test
  void backoff_withABrokenRandomSource_staysInRange() {
    assertEquals(Duration.ofMillis(50), p.backoffBefore(1, () -> Double.NaN));
    assertEquals(Duration.ofMillis(50), p.backoffBefore(1, () -> 7.0));
  }

  @Test
  void backoff_ofAHugeRetryNumber_doesNotOverflow() {
    RetryPolicy big = new RetryPolicy(20, Duration.ofDays(1), Duration.ofDays(3650));
    Duration d = big.backoffBefore(Integer.MAX_VALUE, () -> 0.5);
    assertTrue(d.compareTo(Duration.ofDays(1825)) >= 0 && d.compareTo(Duration.ofDays(3650)) <= 0);
  }

  @Test
  void attempts_areBounded() {
    assertTrue(p.mayRetryAfter(1));
    assertTrue(p.mayRetryAfter(4));
    assertFalse(p.mayRetryAfter(5));
    assertFalse(p.mayRetryAfter(0));
    assertFalse(RetryPolicy.NONE.mayRetryAfter(1));
    assertTrue(RetryPolicy.DEFAULT.mayRetryAfter(3));
    assertFalse(RetryPolicy.DEFAULT.mayRetryAfter(4));
  }

  @Test
  void invalidPolicies_areRefused() {
    assertThrows(IllegalArgumentException.class,
        () -> new RetryPolicy(0, Duration.ofMillis(1), Duration.ofMillis(1)));
    assertThrows(IllegalArgumentException.class,
        () -> new RetryPolicy(21, Duration.ofMillis(1), Duration.ofMillis(1)));
    assertThrows(IllegalArgumentException.class,
        () -> new RetryPolicy(3, Duration.ZERO, Duration.ofMillis(1)));
    assertThrows(IllegalArgumentException.class,
        () -> new RetryPolicy(3, Duration.ofMillis(10), Duration.ofMillis(5)));
    assertThrows(IllegalArgumentException.class, () -> p.backoffBefore(0, () -> 0.5));
  }
}
