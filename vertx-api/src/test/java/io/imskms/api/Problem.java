package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.util.Set;

/** Assertions on RFC 9457 problem documents. */
final class Problem {
  private Problem() {}

  /** The members a problem document may have (docs/api.md, "Errors"). */
  private static final Set<String> MEMBERS =
      Set.of("type", "title", "status", "code", "requestId", "instance", "pointer");
  /** The contract's routes: the only values {@code instance} may take. */
  private static final Set<String> ROUTES = Set.of("/v1/bootstrap", "/v1/deferred/key-request",
      "/v1/deferred/retrieve", "/openapi.yaml", "/health/live", "/health/ready", "/metrics");

  /**
   * Asserts status, code and the document's required members, and that it reveals nothing else:
   * every member is one of the documented ones and its value is fixed by the code (type, title,
   * status) or is the request id, a route template, or a member name; so no stack trace, CKR_*
   * name, key version, key or request byte can be in it. Returns the document.
   */
  static JsonObject assertProblem(HttpResponse<Buffer> r, int status, String code) {
    String body = r.bodyAsString();
    assertEquals(status, r.statusCode(), () -> "status; body " + body);
    assertEquals("application/problem+json", r.getHeader("content-type"));
    assertEquals("no-store", r.getHeader("cache-control"));
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
    // Nothing else is revealed.
    assertTrue(MEMBERS.containsAll(p.fieldNames()), () -> "undocumented member: " + body);
    Failure f = Failure.valueOf(code);
    assertEquals(f.type(), p.getString("type"));
    assertEquals(f.title(), p.getString("title"));
    assertTrue(p.getString("requestId").matches("[A-Za-z0-9._-]{1,64}"), body);
    if (p.containsKey("instance")) {
      assertTrue(ROUTES.contains(p.getString("instance")), body);
    }
    if (p.containsKey("pointer")) {
      assertTrue(f == Failure.SCHEMA_VIOLATION || f == Failure.BAD_BASE64, body);
      assertTrue(p.getString("pointer").matches("[A-Za-z0-9/_-]{0,64}"), body);
    }
    String rest = body.replace(p.getString("requestId"), "");
    for (String leak : new String[] {"CKR", "Exception", "\tat ", "at io.", "java.", "#v",
        "kms-cred", "kms-ticket", "kms-media", "kms-btid"}) {
      assertFalse(rest.contains(leak), () -> "reveals " + leak + ": " + body);
    }
    return p;
  }
}
