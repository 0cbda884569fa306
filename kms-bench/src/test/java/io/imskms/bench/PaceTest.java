package io.imskms.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The open loops' pacer: every intended time before the end, in order, never early. */
class PaceTest {
  @Test
  void pace_sendsAtEachIntendedTime_neverBefore_andStopsBeforeTheEnd() {
    long begin = System.nanoTime() + 1_000_000L;
    long period = 2_000_000L;
    List<Long> intended = new ArrayList<>();
    List<Long> early = new ArrayList<>();
    HttpBench.pace(begin, period, begin + 20_000_000L, t -> {
      intended.add(t);
      if (System.nanoTime() < t) {
        early.add(t);
      }
    });
    assertEquals(10, intended.size());
    for (int i = 0; i < intended.size(); i++) {
      assertEquals(begin + i * period, intended.get(i));
    }
    assertTrue(early.isEmpty(), "sent before their time: " + early);
  }

  @Test
  void pace_late_sendsEveryOne_withItsIntendedTime() {
    long begin = System.nanoTime() - 100_000_000L; // all ten intended times are past
    List<Long> intended = new ArrayList<>();
    HttpBench.pace(begin, 1_000_000L, begin + 10_000_000L, intended::add);
    assertEquals(10, intended.size()); // none dropped for being late
    assertEquals(begin + 9_000_000L, intended.get(9));
  }
}
