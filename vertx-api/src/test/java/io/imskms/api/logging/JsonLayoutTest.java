package io.imskms.api.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonLayoutTest {
  @Test
  void oneJsonObjectPerLine_withRequestId_andEscaping() {
    LoggerContext ctx = new LoggerContext();
    LoggingEvent e = new LoggingEvent("x", ctx.getLogger("io.imskms.test"), Level.WARN,
        "line1\nline2 \"quoted\" {}", new IllegalStateException("boom"), new Object[] {"arg"});
    e.setMDCPropertyMap(Map.of(JsonLayout.REQUEST_ID, "req-1", "other", "not-logged"));
    String out = new JsonLayout().doLayout(e);
    assertTrue(out.endsWith("}\n"));
    assertEquals(1, out.split("\n").length);
    JsonObject j = new JsonObject(out);
    assertEquals("WARN", j.getString("level"));
    assertEquals("io.imskms.test", j.getString("logger"));
    assertEquals("line1\nline2 \"quoted\" arg", j.getString("message"));
    assertEquals("req-1", j.getString("requestId"));
    assertEquals("java.lang.IllegalStateException: boom", j.getString("error"));
    assertTrue(j.getString("time").endsWith("Z"));
    assertFalse(j.containsKey("other"));
  }
}
