package io.imskms.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** The report's arithmetic; no timing is measured or asserted here. */
class StatsTest {
  @Test
  void percentiles_areInMilliseconds_withinHistogramPrecision() {
    Histogram h = Stats.newHistogram();
    for (int i = 1; i <= 1000; i++) {
      Stats.record(h, i * 1_000_000L); // 1..1000 ms
    }
    assertEquals(500, Stats.percentileMs(h, 50), 1);
    assertEquals(990, Stats.percentileMs(h, 99), 1);
    assertEquals(999, Stats.percentileMs(h, 99.9), 1);
    assertTrue(Double.isNaN(Stats.percentileMs(Stats.newHistogram(), 99)));
  }

  @Test
  void record_clampsOutOfRangeLatencies() {
    Histogram h = Stats.newHistogram();
    Stats.record(h, 0);
    Stats.record(h, Long.MAX_VALUE);
    assertEquals(2, h.getTotalCount());
  }

  @Test
  void ratioRateAndCpu() {
    assertEquals(450.0, Stats.rate(900, 2_000_000_000L), 1e-9);
    assertEquals(0.9, Stats.ratio(900, 1000), 1e-12);
    assertTrue(Double.isNaN(Stats.ratio(900, 0)));
    assertEquals(1.25, Stats.cpuMsPerRequest(1_250_000_000L, 1000), 1e-12);
    assertTrue(Double.isNaN(Stats.cpuMsPerRequest(5, 0)));
  }

  @Test
  void medianAndSpread_ofRepetitions() {
    assertEquals(2.0, Stats.median(List.of(3.0, 1.0, 2.0)));
    assertEquals(2.5, Stats.median(List.of(4.0, 1.0, 2.0, 3.0)));
    assertEquals(0.5, Stats.spread(List.of(90.0, 100.0, 140.0)), 1e-12);
    assertTrue(Double.isNaN(Stats.spread(List.of(1.0))));
  }

  @Test
  void best_isTheLowestConcurrencyWithin3PercentOfTheMaximum() {
    assertEquals(2, Stats.best(List.of(100.0, 300.0, 500.0, 510.0)));
    assertEquals(0, Stats.best(List.of(500.0, 300.0)));
  }

  @Test
  void intList_rejectsNonPositive() {
    assertEquals(List.of(1, 2, 8), Stats.intList("1, 2,8"));
    assertThrows(IllegalArgumentException.class, () -> Stats.intList("0,2"));
    assertThrows(IllegalArgumentException.class, () -> Stats.intList(""));
  }

  @Test
  void procStat_userAndSystemTicks_followTheCommandName() {
    String stat = "4242 (java (x) y) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 30 0";
    ProcSampler.Cpu c = ProcSampler.parseStat(stat);
    assertEquals(1_500_000_000L, c.userNanos());
    assertEquals(500_000_000L, c.systemNanos());
    assertEquals(123 * 1024L,
        ProcSampler.parseRss("Name:\tjava\nVmRSS:\t     123 kB\nThreads:\t4\n"));
  }

  @Test
  void options_quickDefaults_andRequiredLauncher() {
    HttpBench.Options o = HttpBench.parse(new String[] {"--quick", "--kms", "/x/bin/kms"});
    assertEquals(List.of(1, 2, 4, 8), o.concurrency());
    assertEquals(List.of(4), o.otherConcurrency());
    assertThrows(IllegalArgumentException.class, () -> HttpBench.parse(new String[] {}));
    assertThrows(IllegalArgumentException.class,
        () -> HttpBench.parse(new String[] {"--kms", "k", "--flows", "fig99"}));
  }

  @Test
  void devTlsFileName_matchesTheServer() {
    assertEquals("sip_vm.bob_ims.example.com", HttpBench.fileName("sip:VM.bob@ims.example.com"));
  }
}
