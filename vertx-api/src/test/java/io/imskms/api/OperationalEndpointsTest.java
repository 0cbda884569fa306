package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Health, readiness, metrics and the served contract, over real HTTPS and SoftHSM2. */
@ExtendWith(VertxExtension.class)
class OperationalEndpointsTest {
  private static TestKms kms;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> { });
  }

  @AfterAll
  static void stop() {
    kms.close();
  }

  @Test
  void live_answersUp(VertxTestContext ctx) {
    kms.ue.get("/health/live").send().onComplete(ctx.succeeding(r -> ctx.verify(() -> {
      assertEquals(200, r.statusCode());
      assertEquals("UP", r.bodyAsJsonObject().getString("status"));
      assertNotNull(r.getHeader("X-Request-Id"));
      ctx.completeNow();
    })));
  }

  @Test
  void ready_whenTokenLoggedIn_answersUpWithPoolState() {
    HttpResponse<Buffer> r = kms.ue.get("/health/ready").send().await();
    assertEquals(200, r.statusCode());
    JsonObject body = r.bodyAsJsonObject();
    assertEquals("UP", body.getString("status"));
    assertEquals(true, body.getJsonObject("hsm").getBoolean("ready"));
    assertEquals(4, body.getJsonObject("hsm").getInteger("poolSize"));
  }

  @Test
  void openapi_servedVerbatimFromDocs() throws Exception {
    HttpResponse<Buffer> r = kms.ue.get("/openapi.yaml").send().await();
    assertEquals(200, r.statusCode());
    assertTrue(r.getHeader("content-type").startsWith("application/yaml"));
    // Surefire runs in the module directory.
    Path docs = Path.of("..", "docs", "openapi.yaml");
    assertEquals(Files.readString(docs), r.bodyAsString());
  }

  @Test
  void metrics_exposePrometheusTextWithRequestsHsmAndPoolGauges() throws Exception {
    // One protocol request so that operation and HSM meters exist.
    kms.bootstrap(kms.ue, kms.enrol(io.imskms.protocol.Role.UE, TestKms.ALICE));
    kms.ue.get("/health/live").send().await();
    HttpResponse<Buffer> r = kms.ue.get("/metrics").send().await();
    assertEquals(200, r.statusCode());
    assertTrue(r.getHeader("content-type").startsWith("text/plain"));
    String text = r.bodyAsString();
    for (String needle : new String[] {
        "kms_http_requests_seconds_count{code=\"OK\",method=\"GET\",route=\"/health/live\","
            + "status=\"200\"}",
        "kms_http_requests_seconds_bucket{code=\"OK\",method=\"POST\",route=\"/v1/bootstrap\"",
        "kms_operations_seconds_count{operation=\"bootstrap\",outcome=\"ok\"}",
        "kms_audit_append_seconds_count{outcome=\"ok\"}",
        "kms_hsm_calls_seconds_count{call=\"openSession\",outcome=\"ok\"}",
        "kms_hsm_calls_seconds_count{call=\"session.sign\",outcome=\"ok\"}",
        "kms_worker_capacity ", "kms_worker_in_flight ", "kms_worker_saturation ",
        "kms_hsm_ready 1.0", "kms_hsm_sessions_in_use ", "kms_hsm_pool_size 4.0",
        "vertx_http_server_requests_total"}) {
      assertTrue(text.contains(needle), "metrics lack " + needle);
    }
  }

  @Test
  void metrics_doNotGrowWithTheMethodNamesClientsInvent() {
    // HTTP/1.1 lets a client send any token as its method: a meter per token would let anyone
    // grow the registry (and every /metrics answer) without bound.
    String invented = "XMETHOD" + Long.toHexString(System.nanoTime()).toUpperCase();
    HttpResponse<Buffer> refused = kms.ue.request(HttpMethod.valueOf(invented),
        "/health/live").send().await();
    assertTrue(refused.statusCode() >= 400, "status " + refused.statusCode());
    String text = kms.ue.get("/metrics").send().await().bodyAsString();
    assertFalse(text.contains(invented), () -> "a meter names the invented method: "
        + text.lines().filter(l -> l.contains(invented)).toList());
    assertTrue(text.lines().anyMatch(l -> l.startsWith("kms_http_requests_seconds_count{")
        && l.contains("method=\"OTHER\"")), "the request is not counted under method OTHER");
  }

  @Test
  void unknownPath_isProblem404WithRequestId() {
    HttpResponse<Buffer> r = kms.ue.get("/v1/nothing").putHeader("X-Request-Id", "trace-42")
        .send().await();
    assertEquals(404, r.statusCode());
    assertEquals("application/problem+json", r.getHeader("content-type"));
    JsonObject p = r.bodyAsJsonObject();
    assertEquals("NOT_FOUND", p.getString("code"));
    assertEquals("trace-42", p.getString("requestId"));
    assertEquals("trace-42", r.getHeader("X-Request-Id"));
  }

  @Test
  void tls12Client_isRefusedByDefault_tls13Only() {
    WebClient tls12 = WebClient.create(kms.clientVertx, new WebClientOptions()
        .setSsl(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.2"))
        .setTrustOptions(new PemTrustOptions()
            .addCertPath(kms.app.devTls().caCert().toString()))
        .setDefaultHost("localhost")
        .setDefaultPort(kms.app.port()));
    try {
      assertThrows(Exception.class, () -> tls12.get("/health/live").send().await());
    } finally {
      tls12.close();
    }
  }

  @Test
  void wrongMethod_isProblem405() {
    HttpResponse<Buffer> r = kms.ue.get("/v1/bootstrap").send().await();
    assertEquals(405, r.statusCode());
    assertEquals("METHOD_NOT_ALLOWED", r.bodyAsJsonObject().getString("code"));
  }
}
