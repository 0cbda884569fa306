package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.SoftHsmTestToken;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

/**
 * The timing proxy around the adapter, on a real SoftHSM2 token: every call is counted under its
 * name and outcome, results and the adapter's own exceptions pass through untouched, and the
 * per-method cache it keeps (names, accessibility) serves every session it wraps.
 */
class MeteredHsmTest {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  private long count(String call, String outcome) {
    Timer t = registry.find("kms.hsm.calls").tag("call", call).tag("outcome", outcome).timer();
    return t == null ? 0 : t.count();
  }

  @Test
  void everyCallIsTimedByNameAndOutcome_resultsAndFailuresPassThrough() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      Hsm hsm = MeteredHsm.wrap(token.open(), new ApiMetrics(registry));
      byte[] tag;
      KeySpec hmac = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);
      byte[] data = {1, 2, 3};
      try (HsmSession s = hsm.openSession()) {
        assertEquals(16, s.random(16).length);
        KeyRef k = s.generateKey(hmac);
        tag = s.sign(k, data);
        s.verify(k, data, tag);
        byte[] bad = tag.clone();
        bad[0] ^= 1;
        // The adapter's exception itself, not the reflection's wrapper.
        HsmException e = assertThrows(HsmException.class, () -> s.verify(k, data, bad));
        assertEquals(HsmException.Kind.INTEGRITY, e.kind());
      }
      // A second session is a new proxy: the same meters, counts add up.
      try (HsmSession s = hsm.openSession()) {
        assertEquals(32, s.random(32).length);
      }
      hsm.status();
      assertEquals(2, count("openSession", "ok"));
      assertEquals(2, count("session.random", "ok"));
      assertEquals(1, count("session.generateKey", "ok"));
      assertEquals(1, count("session.sign", "ok"));
      assertEquals(1, count("session.verify", "ok"));
      assertEquals(1, count("session.verify", "INTEGRITY"));
      assertEquals(2, count("session.close", "ok"));
      assertNull(registry.find("kms.hsm.calls").tag("call", "status").timer(),
          "status is polled by health checks and not timed");
      assertTrue(hsm.toString().startsWith("MeteredHsm["), hsm.toString());
      assertEquals(hsm, hsm);
      hsm.close();
      assertEquals(1, count("close", "ok"));
    }
  }
}
