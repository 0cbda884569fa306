package io.imskms.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The report's reading of /proc and of the server's Prometheus text; no timing measured. */
class ProcSamplerTest {
  @Test
  void parseStat_readsUserAndSystemTicksAfterTheCommandName() {
    // A command name with spaces and a parenthesis, as comm may have.
    String stat = "4242 (kms (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0"
        + " 100 0 0";
    ProcSampler.Cpu c = ProcSampler.parseStat(stat);
    assertEquals(2_500_000_000L, c.userNanos());
    assertEquals(750_000_000L, c.systemNanos());
  }

  @Test
  void threadGroups_subtractPerGroup_neverBelowZero_andTheCompilerIsFound() {
    Map<String, Long> before = Map.of("kms-hsm-N", 100L, "CN CompilerThre", 50L,
        "vert.x-eventloo", 30L, "gone-N", 500L);
    Map<String, Long> after = Map.of("kms-hsm-N", 400L, "CN CompilerThre", 80L,
        "vert.x-eventloo", 30L, "gone-N", 200L, "new-thread", 7L);
    Map<String, Long> d = ProcSampler.minus(after, before);
    assertEquals(Map.of("kms-hsm-N", 300L, "CN CompilerThre", 30L, "vert.x-eventloo", 0L,
        "gone-N", 0L, "new-thread", 7L), d);
    assertEquals(30L, ProcSampler.jitNanos(d));
  }

  @Test
  void switches_readFromStatus_subtractPerGroup_neverBelowZero() {
    String status = String.join("\n", "Name:\tkms-hsm-1", "State:\tS (sleeping)",
        "Threads:\t1", "voluntary_ctxt_switches:\t1234", "nonvoluntary_ctxt_switches:\t56", "");
    assertEquals(new ProcSampler.Switches(1234, 56), ProcSampler.parseSwitches(status));
    Map<String, ProcSampler.Switches> before = Map.of(
        "kms-hsm-N", new ProcSampler.Switches(10, 1), "gone-N", new ProcSampler.Switches(90, 9));
    Map<String, ProcSampler.Switches> after = Map.of(
        "kms-hsm-N", new ProcSampler.Switches(25, 4), "gone-N", new ProcSampler.Switches(5, 0),
        "new-thread", new ProcSampler.Switches(3, 2));
    assertEquals(Map.of("kms-hsm-N", new ProcSampler.Switches(15, 3),
        "gone-N", new ProcSampler.Switches(0, 0), "new-thread", new ProcSampler.Switches(3, 2)),
        ProcSampler.minusSwitches(after, before));
    // Against this very process: some thread of the JVM has waited at least once, and run.
    ProcSampler self = new ProcSampler(ProcessHandle.current().pid());
    assertTrue(self.threadSwitches().values().stream().mapToLong(ProcSampler.Switches::voluntary)
        .sum() > 0);
    assertTrue(self.threadCpu().values().stream().mapToLong(Long::longValue).sum() > 0);
  }

  @Test
  void serverTimers_areSummedOverLabels_withTheirSums_andOtherMetricsIgnored() {
    String text = String.join("\n",
        "# HELP kms_http_requests_seconds HTTP requests answered by the KMS",
        "kms_http_requests_seconds_bucket{code=\"OK\",route=\"/a\",le=\"0.005\"} 8",
        "kms_http_requests_seconds_bucket{code=\"OK\",route=\"/a\",le=\"+Inf\"} 10",
        "kms_http_requests_seconds_bucket{code=\"OK\",route=\"/b\",le=\"0.005\"} 1",
        "kms_http_requests_seconds_bucket{code=\"OK\",route=\"/b\",le=\"+Inf\"} 2",
        "kms_http_requests_seconds_count{code=\"OK\",route=\"/a\"} 10",
        "kms_http_requests_seconds_sum{code=\"OK\",route=\"/a\"} 0.03",
        "kms_http_requests_seconds_sum{code=\"OK\",route=\"/b\"} 0.01",
        "kms_audit_append_seconds_bucket{outcome=\"ok\",le=\"0.001\"} 3",
        "kms_audit_append_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 4",
        "kms_audit_append_seconds_sum{outcome=\"ok\"} 0.002",
        "kms_hsm_calls_seconds_bucket{call=\"x\",le=\"+Inf\"} 99",
        "kms_hsm_shared_keys 3.0");
    Map<String, HttpBench.TimerText> t = HttpBench.parseTimers(text);
    assertEquals(2, t.size());
    HttpBench.TimerText http = t.get("kms_http_requests_seconds");
    assertEquals(12, http.count());
    assertEquals(9L, http.buckets().get(0.005));
    assertEquals(0.04, http.sumSeconds(), 1e-12);
    HttpBench.TimerText audit = t.get("kms_audit_append_seconds");
    assertEquals(4, audit.count());
    assertEquals(0.002, audit.sumSeconds(), 1e-12);
    assertEquals(3, HttpBench.sum(text, l -> l.startsWith("kms_hsm_shared_keys ")));
    assertEquals(-1, HttpBench.sum(text, l -> l.startsWith("kms_absent")));
  }
}
