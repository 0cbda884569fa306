package io.imskms.bench;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.LongBinaryOperator;

/**
 * Where in time an open loop's slow answers fall: its requests over {@link #SLOW_NANOS}, counted
 * per quarter-second of intended send time (the {@link HiccupMeter}'s interval), and set beside
 * the platform meter's worst wake-up delay in the same quarter-second. Slow answers bunched in a
 * few quarter-seconds that the meter also saw stalled are the platform's; slow answers spread
 * over quarter-seconds where the meter woke on time are the server's own.
 */
final class SlowWindows {
  static final long SLOW_NANOS = 5_000_000L;
  /**
   * A quarter-second in which the meter itself woke over 5 ms late counts as stalled: in it, a
   * thread that needed the CPU for microseconds waited longer than the whole latency target.
   * (At 2 ms nearly every quarter-second of a half-loaded 2-core machine qualified.)
   */
  static final long STALL_US = 5_000;

  private final long t0;
  private final AtomicIntegerArray all;
  private final AtomicIntegerArray slow;

  SlowWindows(long t0Nanos, long t1Nanos) {
    this.t0 = t0Nanos;
    int n = (int) Math.max(1, (t1Nanos - t0Nanos + width() - 1) / width());
    all = new AtomicIntegerArray(n);
    slow = new AtomicIntegerArray(n);
  }

  private static long width() {
    return HiccupMeter.INTERVAL_MILLIS * 1_000_000L;
  }

  /** A request meant to be sent at {@code intendedNanos} that took {@code tookNanos}. */
  void record(long intendedNanos, long tookNanos) {
    long i = Math.floorDiv(intendedNanos - t0, width());
    if (i < 0 || i >= all.length()) {
      return;
    }
    all.incrementAndGet((int) i);
    if (tookNanos > SLOW_NANOS) {
      slow.incrementAndGet((int) i);
    }
  }

  /**
   * One line: how many answers were slow, in how many quarter-seconds, and what share of them
   * fell in quarter-seconds the meter saw stalled. {@code epochOffsetMillis} turns
   * {@link System#nanoTime()} milliseconds into epoch milliseconds.
   */
  String summary(HiccupMeter meter, long epochOffsetMillis) {
    return summary(meter::maxDelayUs, epochOffsetMillis);
  }

  /** As above, with the meter's worst delay (us) over [from, to) epoch ms as a function. */
  String summary(LongBinaryOperator maxDelayUs, long epochOffsetMillis) {
    long n = 0;
    long late = 0;
    int windowsWithLate = 0;
    int stalled = 0;
    long lateInStalled = 0;
    int worst = 0;
    for (int i = 0; i < all.length(); i++) {
      n += all.get(i);
      int s = slow.get(i);
      late += s;
      worst = Math.max(worst, s);
      if (s > 0) {
        windowsWithLate++;
      }
      long from = (t0 + i * width()) / 1_000_000 + epochOffsetMillis;
      if (maxDelayUs.applyAsLong(from, from + HiccupMeter.INTERVAL_MILLIS) > STALL_US) {
        stalled++;
        lateInStalled += s;
      }
    }
    return String.format(Locale.ROOT, "%d of %d answers (%.1f%%) over %d ms, in %d of %d"
        + " quarter-seconds, at most %d in one; %.0f%% of them in the %d quarter-seconds where"
        + " the platform meter woke over %d ms late", late, n, n == 0 ? 0 : 100.0 * late / n,
        SLOW_NANOS / 1_000_000, windowsWithLate, all.length(), worst,
        late == 0 ? 0 : 100.0 * lateInStalled / late, stalled, STALL_US / 1_000);
  }
}
