package io.imskms.api.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import io.imskms.core.KmsException;
import io.imskms.hsm.HsmUnavailableException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

class JsonLayoutCauseTest {
  private static JsonObject layout(String message, Throwable t, Object... args) {
    LoggerContext ctx = new LoggerContext();
    LoggingEvent e = new LoggingEvent("x", ctx.getLogger("io.imskms.test"), Level.ERROR, message,
        t, args);
    e.setMDCPropertyMap(java.util.Map.of());
    String out = new JsonLayout().doLayout(e);
    assertEquals(1, out.split("\n").length);
    return new JsonObject(out);
  }

  @Test
  void wrappedHsmException_itsCkrNameReachesTheLog() {
    HsmUnavailableException hsm = new HsmUnavailableException(
        "C_DeriveKey failed", 0x32, null);
    KmsException kms = KmsException.of(hsm);
    JsonObject j = layout("internal error on {}", new IllegalStateException("worker", kms),
        "POST");
    JsonArray causes = j.getJsonArray("causes");
    assertEquals(2, causes.size(), j.encode());
    assertTrue(causes.getString(0).startsWith(KmsException.class.getName()), j.encode());
    assertTrue(causes.getString(1).contains("(CKR_DEVICE_REMOVED)"), j.encode());
    // Only the top throwable's frames.
    assertTrue(j.getJsonArray("stack").getString(0).contains("JsonLayoutCauseTest"), j.encode());
  }

  @Test
  void longCauseChain_isBoundedToFive() {
    Throwable t = new RuntimeException("level 0");
    Throwable top = t;
    for (int i = 1; i <= 20; i++) {
      Throwable next = new RuntimeException("level " + i);
      t.initCause(next);
      t = next;
    }
    JsonArray causes = layout("x", top).getJsonArray("causes");
    assertEquals(5, causes.size());
    assertEquals("java.lang.RuntimeException: level 5", causes.getString(4));
  }

  @Test
  void noCause_noCausesField() {
    assertFalse(layout("x", new IllegalStateException("boom")).containsKey("causes"));
  }

  @Test
  void byteAndCharArrayArguments_areNeverPrinted() {
    JsonObject j = layout("key {} pin {} n {}", null, new byte[] {11, 22, 33},
        "s3cr3t".toCharArray(), 7);
    String m = j.getString("message");
    assertEquals("key [3 bytes] pin [6 chars] n 7", m);
  }
}
