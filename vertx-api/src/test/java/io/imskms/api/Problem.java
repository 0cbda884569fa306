package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;

/** Assertions on RFC 9457 problem documents. */
final class Problem {
  private Problem() {}

  /** Asserts status, code and the document's required members; returns the document. */
  static JsonObject assertProblem(HttpResponse<Buffer> r, int status, String code) {
    String body = r.bodyAsString();
    assertEquals(status, r.statusCode(), () -> "status; body " + body);
    assertEquals("application/problem+json", r.getHeader("content-type"));
    JsonObject p = new JsonObject(body);
    assertEquals(code, p.getString("code"), () -> "code; body " + body);
    assertEquals(status, p.getInteger("status"));
    assertTrue(p.getString("type").startsWith("urn:imskms:problem:"));
    assertNotNull(p.getString("title"));
    assertNotNull(p.getString("requestId"));
    assertEquals(r.getHeader("X-Request-Id"), p.getString("requestId"));
    if (status == 503) {
      assertNotNull(r.getHeader("Retry-After"), "503 without Retry-After");
    }
    return p;
  }
}
