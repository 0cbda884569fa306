package io.imskms.core;

import java.time.Duration;
import java.util.Objects;

/**
 * Lifetimes of the protocol. The timestamp window is the replay cache's.
 *
 * @param btidLifetime how long a B-TID (and the session key it stands for) is accepted
 * @param ticketRetention how long a ticket is accepted: the mailbox's retention period
 */
public record DeferredDeliveryOptions(Duration btidLifetime, Duration ticketRetention) {
  public static final DeferredDeliveryOptions DEFAULTS =
      new DeferredDeliveryOptions(Duration.ofHours(12), Duration.ofDays(30));

  public DeferredDeliveryOptions {
    Objects.requireNonNull(btidLifetime);
    Objects.requireNonNull(ticketRetention);
    if (btidLifetime.isNegative() || btidLifetime.isZero() || ticketRetention.isNegative()
        || ticketRetention.isZero()) {
      throw new IllegalArgumentException("lifetimes must be positive");
    }
  }
}
