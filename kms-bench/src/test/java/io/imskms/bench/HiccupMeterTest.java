package io.imskms.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** The platform meter's line format, and a real meter JVM reporting; no timing asserted. */
class HiccupMeterTest {
  @Test
  void intervalLines_roundTrip_andOtherLinesAreIgnored() {
    Histogram h = HiccupMeter.newHistogram();
    h.recordValue(80);
    h.recordValue(80);
    h.recordValue(12_000);
    String line = HiccupMeter.encode(1_700_000_000_123L, h,
        ByteBuffer.allocate(h.getNeededByteBufferCapacity()));
    Map.Entry<Long, Histogram> e = HiccupMeter.decode(line);
    assertEquals(1_700_000_000_123L, e.getKey());
    assertEquals(3, e.getValue().getTotalCount());
    assertEquals(h.getMaxValue(), e.getValue().getMaxValue());
    assertTrue(HiccupMeter.summary(e.getValue()).contains("(3 wake-ups)"),
        HiccupMeter.summary(e.getValue()));
    assertNull(HiccupMeter.decode("OpenJDK 64-Bit Server VM warning: something"));
    assertNull(HiccupMeter.decode("12 not-base64!"));
    assertEquals("no wake-ups recorded", HiccupMeter.summary(HiccupMeter.newHistogram()));
  }

  @Test
  void aRealMeter_reportsWholeIntervalsInsideAWindow() throws Exception {
    long from = System.currentTimeMillis();
    try (HiccupMeter m = HiccupMeter.start(null)) {
      long deadline = System.nanoTime() + 30_000_000_000L;
      Histogram h = m.between(from, System.currentTimeMillis());
      while (h.getTotalCount() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(100);
        h = m.between(from, System.currentTimeMillis());
      }
      assertTrue(h.getTotalCount() > 0, "the meter's JVM reported no interval in 30 s");
      assertTrue(h.getMinValue() >= 1, "delays are recorded from 1 us");
      // A window that ends before the meter started holds nothing.
      assertEquals(0, m.between(from - 60_000, from - 1).getTotalCount());
    }
  }

  @Test
  void slowAnswers_areCountedPerQuarterSecond_andSetBesideTheMetersStalls() {
    long t0 = 1_000_000_000L;
    long q = HiccupMeter.INTERVAL_MILLIS * 1_000_000L;
    SlowWindows w = new SlowWindows(t0, t0 + 4 * q);
    for (int i = 0; i < 4; i++) {
      for (int j = 0; j < 10; j++) {
        w.record(t0 + i * q + j * 1_000_000L, 1_000_000L);
      }
    }
    w.record(t0 + 5_000_000L, 9_000_000L); // slow, in the first quarter-second
    w.record(t0 + 6_000_000L, 7_000_000L); // slow, in the first quarter-second
    w.record(t0 + 2 * q, 6_000_000L); // slow, in the third
    w.record(t0 - 1, 50_000_000L); // before the window: not counted
    w.record(t0 + 4 * q, 50_000_000L); // after it: not counted
    // Epoch offset 0 (ms = nanos / 1e6): the meter stalled only in the first quarter-second.
    long first = t0 / 1_000_000;
    String s = w.summary((from, to) -> from == first ? 6_000 : 4_000, 0);
    assertEquals("3 of 43 answers (7.0%) over 5 ms, in 2 of 4 quarter-seconds, at most 2 in"
        + " one; 67% of them in the 1 quarter-seconds where the platform meter woke over 5 ms"
        + " late", s);
  }
}
