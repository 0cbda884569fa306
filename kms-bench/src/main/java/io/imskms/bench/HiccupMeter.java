package io.imskms.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.locks.LockSupport;
import java.util.zip.DataFormatException;
import org.HdrHistogram.Histogram;

/**
 * The platform's own latency, measured beside the server (the idea of jHiccup): a thread in a
 * small JVM of its own, on the server's CPUs (pinned to the server's CPU with --split-cpus),
 * that does nothing but sleep 1 ms and record how late it woke. A request of the server wakes
 * three or four threads on its way (event loop, HSM worker, audit writer, event loop), and a
 * thread waking on the same CPUs at the same moment waits about as long as this one. So a
 * step's wake-up delays are what the host (other tenants, whose steal this guest does not see),
 * the scheduler and the other runnable threads add to each of those hand-offs, without any of
 * the server's own work: a floor under the server's tail there.
 *
 * <p>The meter's JVM allocates nothing in its loop but one encoded interval every
 * {@link #INTERVAL_MILLIS} ms, a few kilobytes a second in a 32 MB Serial heap (a young
 * collection of a nearly empty heap every few minutes at most), so its own pauses are not in the
 * figures. It writes one line per interval, {@code END_EPOCH_MILLIS BASE64}, the
 * interval's histogram of delays in microseconds; the harness keeps them and merges those of a
 * window.
 */
final class HiccupMeter implements AutoCloseable {
  static final long SLEEP_NANOS = 1_000_000L;
  static final long INTERVAL_MILLIS = 250;
  static final long MAX_DELAY_US = 60_000_000L;

  private final Process process;
  /** Each interval as the meter sent it (compressed, a few hundred bytes), by its end. */
  private final ConcurrentSkipListMap<Long, byte[]> intervals = new ConcurrentSkipListMap<>();

  private HiccupMeter(Process process) {
    this.process = process;
    Thread reader = new Thread(this::read, "hiccup-reader");
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * Starts the meter's JVM from this JVM's own runtime and class path, under
   * {@code taskset -c cpus} when {@code cpus} is not null.
   */
  static HiccupMeter start(String cpus) throws IOException {
    List<String> cmd = new ArrayList<>();
    if (cpus != null) {
      cmd.addAll(List.of("taskset", "-c", cpus));
    }
    cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xms32m", "-Xmx32m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
        System.getProperty("java.class.path"), HiccupMeter.class.getName()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD);
    Process p = pb.start();
    HiccupMeter m = new HiccupMeter(p);
    Runtime.getRuntime().addShutdownHook(new Thread(p::destroy, "stop-hiccup-meter"));
    return m;
  }

  private void read() {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
        StandardCharsets.US_ASCII))) {
      String line;
      while ((line = r.readLine()) != null) {
        Map.Entry<Long, byte[]> e = split(line);
        if (e != null && histogram(e.getValue()) != null) {
          intervals.put(e.getKey(), e.getValue());
        }
      }
    } catch (IOException ended) {
      // the meter was stopped
    }
  }

  /**
   * The delays of the intervals that ended within [{@code fromEpochMillis} + one interval,
   * {@code toEpochMillis}]: whole intervals inside the window (empty if none).
   */
  Histogram between(long fromEpochMillis, long toEpochMillis) {
    Histogram out = newHistogram();
    if (toEpochMillis < fromEpochMillis + INTERVAL_MILLIS) {
      return out;
    }
    for (byte[] b : intervals.subMap(fromEpochMillis + INTERVAL_MILLIS, true, toEpochMillis,
        true).values()) {
      out.add(histogram(b));
    }
    return out;
  }

  /**
   * The worst delay (us) in the intervals that overlap [{@code fromEpochMillis},
   * {@code toEpochMillis}), 0 if none arrived.
   */
  long maxDelayUs(long fromEpochMillis, long toEpochMillis) {
    long max = 0;
    // An interval ending at E covers (E - INTERVAL_MILLIS, E].
    for (byte[] b : intervals.subMap(fromEpochMillis, false,
        toEpochMillis + INTERVAL_MILLIS, false).values()) {
      max = Math.max(max, histogram(b).getMaxValue());
    }
    return max;
  }

  /** The one-line summary of a window's delays, in milliseconds. */
  static String summary(Histogram h) {
    if (h.getTotalCount() == 0) {
      return "no wake-ups recorded";
    }
    return String.format(java.util.Locale.ROOT, "woke late by p50 %.2f, p99 %.2f, p99.9 %.2f,"
        + " max %.1f ms (%d wake-ups)", h.getValueAtPercentile(50) / 1e3,
        h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3,
        h.getMaxValue() / 1e3, h.getTotalCount());
  }

  static Histogram newHistogram() {
    return new Histogram(1, MAX_DELAY_US, 2);
  }

  static String encode(long endEpochMillis, Histogram h, ByteBuffer buffer) {
    buffer.clear();
    int n = h.encodeIntoCompressedByteBuffer(buffer);
    byte[] b = new byte[n];
    buffer.flip();
    buffer.get(b);
    return endEpochMillis + " " + Base64.getEncoder().encodeToString(b);
  }

  /** A line of the meter as a histogram, or null if it is not one (the format's round trip). */
  static Map.Entry<Long, Histogram> decode(String line) {
    Map.Entry<Long, byte[]> e = split(line);
    Histogram h = e == null ? null : histogram(e.getValue());
    return h == null ? null : Map.entry(e.getKey(), h);
  }

  /** A line's end time and compressed histogram, or null if it is not a meter's line. */
  private static Map.Entry<Long, byte[]> split(String line) {
    int sp = line.indexOf(' ');
    if (sp <= 0) {
      return null;
    }
    try {
      return Map.entry(Long.parseLong(line.substring(0, sp)),
          Base64.getDecoder().decode(line.substring(sp + 1)));
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** The histogram of a compressed interval, or null if the bytes are not one. */
  private static Histogram histogram(byte[] compressed) {
    try {
      return Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(compressed), 1);
    } catch (DataFormatException | RuntimeException e) {
      return null;
    }
  }

  @Override
  public void close() {
    process.destroy();
  }

  /** The meter's JVM: sleeps 1 ms at a time, records the delay, prints an interval each 250 ms. */
  public static void main(String[] args) {
    PrintStream out = System.out;
    Histogram h = newHistogram();
    ByteBuffer buffer = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
    long next = System.currentTimeMillis() + INTERVAL_MILLIS;
    while (!out.checkError()) {
      long t = System.nanoTime();
      LockSupport.parkNanos(SLEEP_NANOS);
      long late = System.nanoTime() - t - SLEEP_NANOS;
      h.recordValue(Math.max(1, Math.min(MAX_DELAY_US, late / 1_000)));
      long now = System.currentTimeMillis();
      if (now >= next) {
        out.println(encode(now, h, buffer));
        out.flush();
        h.reset();
        next = now + INTERVAL_MILLIS;
      }
    }
  }
}
