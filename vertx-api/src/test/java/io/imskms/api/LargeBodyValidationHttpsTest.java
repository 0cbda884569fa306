package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.Bootstrapping;
import io.imskms.client.Credential;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.Role;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bodies larger than {@link BodyValidation#ON_LOOP_MAX_BYTES}, or with more members than
 * {@link BodyValidation#ON_LOOP_MAX_MEMBERS}, are validated on a worker instead of the event
 * loop: over real HTTPS the outcome is the same as on the loop (a valid body is served, a
 * hostile one gets its 400 with the same code and pointer).
 */
class LargeBodyValidationHttpsTest {
  private static TestKms kms;
  private static Credential alice;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> { });
    alice = kms.enrol(Role.UE, TestKms.ALICE);
  }

  @AfterAll
  static void stop() {
    kms.close();
  }

  private static HttpResponse<Buffer> post(String path, Buffer body) {
    return kms.ue.post(path).putHeader("content-type", "application/json").sendBuffer(body)
        .await();
  }

  @Test
  void validBootstrapPaddedWithWhitespacePastTheLimit_isServed() throws Exception {
    Bootstrapping.Pending p = kms.bootstrapping.start(alice);
    String json = JsonMessages.toJson(BootstrapRequest.decode(p.requestBytes())).encode();
    Buffer padded = Buffer.buffer("{" + " ".repeat(BodyValidation.ON_LOOP_MAX_BYTES)
        + json.substring(1));
    assertTrue(padded.length() > BodyValidation.ON_LOOP_MAX_BYTES);
    HttpResponse<Buffer> r = post("/v1/bootstrap", padded);
    assertEquals(200, r.statusCode(), r.bodyAsString());
    kms.bootstrapping.finish(p, JsonMessages.bootstrapResponse(r.bodyAsJsonObject()).encode());
  }

  @Test
  void thousandsOfExtraMembers_is400SchemaViolation_withThePointer_onEitherSide()
      throws Exception {
    JsonObject valid = JsonMessages.toJson(BootstrapRequest.decode(
        kms.bootstrapping.start(alice).requestBytes()));
    JsonObject small = valid.copy().put("debug", 1);
    JsonObject large = valid.copy();
    // Over the event loop's share, under the default body limit (16 KiB).
    for (int i = 0; large.toBuffer().length() < BodyValidation.ON_LOOP_MAX_BYTES + 4096; i++) {
      large.put("x" + i, i);
    }
    JsonObject medium = valid.copy();
    for (int i = 0; i < 100; i++) {
      medium.put("x" + i, i);
    }
    assertTrue(medium.toBuffer().length() < BodyValidation.ON_LOOP_MAX_BYTES);
    JsonObject onLoop = assertProblem(post("/v1/bootstrap", small.toBuffer()), 400,
        "SCHEMA_VIOLATION");
    JsonObject manyMembers = assertProblem(post("/v1/bootstrap", medium.toBuffer()), 400,
        "SCHEMA_VIOLATION");
    assertTrue(manyMembers.getString("pointer").startsWith("/x"), manyMembers.encode());
    JsonObject onWorker = assertProblem(post("/v1/bootstrap", large.toBuffer()), 400,
        "SCHEMA_VIOLATION");
    assertEquals("/debug", onLoop.getString("pointer"));
    assertTrue(onWorker.getString("pointer").startsWith("/x"), onWorker.encode());
    assertProblem(post("/v1/bootstrap", Buffer.buffer("{" + " ".repeat(10_000))), 400,
        "INVALID_JSON");
  }
}
