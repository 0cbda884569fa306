package io.imskms.api;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmSession;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Proxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * What the timing proxy ({@link MeteredHsm}, {@code kms_hsm_calls_seconds}) adds to each adapter
 * call: the same session calls made on an adapter that does nothing, directly and through the
 * proxy, in one JVM, alternating; CPU nanoseconds and bytes allocated per call on the calling
 * thread. The adapter here is a stand-in that returns at once, so only the proxy is priced; a
 * real call costs tens of microseconds of HSM work on top. Prints numbers; asserts nothing about
 * time. Runs only with {@code -Dkms.bench=true}:
 *
 * <pre>mvn -B test -pl vertx-api -Dtest=MeteredHsmBench -Dkms.bench=true</pre>
 */
@EnabledIfSystemProperty(named = "kms.bench", matches = "true")
class MeteredHsmBench {
  private static final int N = Integer.getInteger("kms.bench.requests", 2_000_000);
  private static final int ROUNDS = Integer.getInteger("kms.bench.rounds", 5);
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  /** An adapter whose every method returns at once (null, or a session like itself). */
  private static Hsm idleHsm() {
    HsmSession session = (HsmSession) Proxy.newProxyInstance(
        HsmSession.class.getClassLoader(), new Class<?>[] {HsmSession.class},
        (p, m, a) -> m.getReturnType() == boolean.class ? Boolean.FALSE : null);
    return (Hsm) Proxy.newProxyInstance(Hsm.class.getClassLoader(), new Class<?>[] {Hsm.class},
        (p, m, a) -> m.getName().equals("openSession") ? session : null);
  }

  @Test
  void proxyCostPerCall() throws Exception {
    Hsm direct = idleHsm();
    Hsm metered = MeteredHsm.wrap(idleHsm(),
        new ApiMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT)));
    byte[] data = new byte[32];
    System.out.printf("%5s %16s %16s %16s %16s%n", "round", "direct ns/call", "direct B/call",
        "metered ns/call", "metered B/call");
    for (int round = 1; round <= ROUNDS; round++) {
      double[] d = run(direct, data);
      double[] m = run(metered, data);
      System.out.printf("%5d %16.0f %16.0f %16.0f %16.0f%n", round, d[0], d[1], m[0], m[1]);
    }
  }

  /** N sign calls on one session (as a request makes them): CPU ns and bytes per call. */
  private static double[] run(Hsm hsm, byte[] data) throws Exception {
    long id = Thread.currentThread().getId();
    long cpu0 = THREADS.getCurrentThreadCpuTime();
    long b0 = THREADS.getThreadAllocatedBytes(id);
    try (HsmSession s = hsm.openSession()) {
      for (int i = 0; i < N; i++) {
        s.sign(null, data);
      }
    }
    return new double[] {(double) (THREADS.getCurrentThreadCpuTime() - cpu0) / N,
        (double) (THREADS.getThreadAllocatedBytes(id) - b0) / N};
  }
}
