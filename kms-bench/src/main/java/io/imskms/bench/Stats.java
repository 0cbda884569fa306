package io.imskms.bench;

import java.util.Arrays;
import java.util.List;
import org.HdrHistogram.Histogram;

/** The arithmetic of the report: percentiles, rates, ratios and the spread of repetitions. */
final class Stats {
  /** Latencies are recorded in microseconds, up to a minute, with 3 significant digits. */
  static final long MAX_LATENCY_US = 60_000_000L;

  private Stats() {}

  static Histogram newHistogram() {
    return new Histogram(1, MAX_LATENCY_US, 3);
  }

  /** Records a latency in nanoseconds (clamped into the histogram's range). */
  static void record(Histogram h, long nanos) {
    long us = Math.max(1, Math.min(MAX_LATENCY_US, nanos / 1_000));
    h.recordValue(us);
  }

  /** The {@code percentile} (0..100) of {@code h} in milliseconds; NaN when empty. */
  static double percentileMs(Histogram h, double percentile) {
    if (h.getTotalCount() == 0) {
      return Double.NaN;
    }
    return h.getValueAtPercentile(percentile) / 1_000.0;
  }

  static double rate(long count, long nanos) {
    return nanos <= 0 ? 0 : count * 1e9 / nanos;
  }

  /** rps / bound; NaN when the bound is unknown or zero. */
  static double ratio(double rps, double bound) {
    return bound > 0 ? rps / bound : Double.NaN;
  }

  /** Milliseconds of CPU per request; NaN without requests. */
  static double cpuMsPerRequest(long cpuNanos, long requests) {
    return requests > 0 ? cpuNanos / 1e6 / requests : Double.NaN;
  }

  /** Median of the values (mean of the middle two for an even count); NaN when empty. */
  static double median(List<Double> values) {
    double[] v = values.stream().filter(d -> !Double.isNaN(d)).mapToDouble(Double::doubleValue)
        .sorted().toArray();
    if (v.length == 0) {
      return Double.NaN;
    }
    int m = v.length / 2;
    return v.length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
  }

  /** (max - min) / median, the relative spread of repetitions; NaN with fewer than two. */
  static double spread(List<Double> values) {
    double[] v = values.stream().filter(d -> !Double.isNaN(d)).mapToDouble(Double::doubleValue)
        .toArray();
    if (v.length < 2) {
      return Double.NaN;
    }
    double med = median(values);
    return (Arrays.stream(v).max().getAsDouble() - Arrays.stream(v).min().getAsDouble()) / med;
  }

  /**
   * The index of the best concurrency: the highest rps; among rates within 3% of it, the lowest
   * concurrency (less queueing for the same throughput).
   */
  static int best(List<Double> rps) {
    double max = rps.stream().mapToDouble(Double::doubleValue).max().orElse(0);
    for (int i = 0; i < rps.size(); i++) {
      if (rps.get(i) >= 0.97 * max) {
        return i;
      }
    }
    return 0;
  }

  /** Parses "1,2,4" into a list of positive integers. */
  static List<Integer> intList(String s) {
    List<Integer> out = Arrays.stream(s.split(",")).map(String::trim).filter(x -> !x.isEmpty())
        .map(Integer::parseInt).toList();
    if (out.isEmpty() || out.stream().anyMatch(i -> i <= 0)) {
      throw new IllegalArgumentException("expected positive integers separated by commas: " + s);
    }
    return out;
  }
}
