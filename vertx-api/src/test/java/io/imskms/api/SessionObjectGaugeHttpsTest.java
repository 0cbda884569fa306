package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.UeClient;
import io.imskms.protocol.RetrievalRequest;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.client.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server's HSM session objects, seen from outside the process: after granted and refused
 * requests of every flow over real HTTPS on SoftHSM2, {@code kms_hsm_session_objects_live} at
 * /metrics is {@code kms_hsm_shared_keys} (the recovered keys kept for reuse) while {@code kms_hsm_session_objects_created_in_generation} has
 * grown (SoftHSM2 shows session
 * objects only inside the process that made them, so this gauge is how a benchmark or an
 * operator checks that none is left behind).
 */
class SessionObjectGaugeHttpsTest {
  private static final Pattern LIVE =
      Pattern.compile("(?m)^kms_hsm_session_objects_live(?:\\{[^}]*})? (\\S+)$");
  private static final Pattern SHARED =
      Pattern.compile("(?m)^kms_hsm_shared_keys(?:\\{[^}]*})? (\\S+)$");
  private static final Pattern CREATED = Pattern.compile(
      "(?m)^kms_hsm_session_objects_created_in_generation(?:\\{[^}]*})? (\\S+)$");
  private static TestKms kms;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> { });
  }

  @AfterAll
  static void stop() {
    kms.close();
  }

  private static double gauge(Pattern p) {
    HttpResponse<Buffer> r = kms.ue.get("/metrics").send().await();
    assertEquals(200, r.statusCode());
    Matcher m = p.matcher(r.bodyAsString());
    assertTrue(m.find(), () -> "no " + p.pattern() + " in /metrics");
    return Double.parseDouble(m.group(1));
  }

  /**
   * Live session objects other than the shared keys, once the last answer's session has been
   * given back (generous deadline).
   */
  private static double leftWhenIdle() throws InterruptedException {
    double left = gauge(LIVE) - gauge(SHARED);
    for (int i = 0; i < 100 && left != 0; i++) {
      Thread.sleep(50);
      left = gauge(LIVE) - gauge(SHARED);
    }
    return left;
  }

  @Test
  void afterGrantedAndRefusedRequestsOfEveryFlow_noSessionObjectIsLive() throws Exception {
    TestKms.Principals p = kms.enrolAll();
    double createdBefore = gauge(CREATED);
    for (int i = 0; i < 10; i++) {
      TestKms.Delivery d = kms.deliver(p, i % 2 == 0);
      kms.retrieve(p, d);
      // A refusal half-way through Figure 18 step 5: its session keys must go too.
      byte[] ticket = d.grant().ticket().clone();
      ticket[ticket.length - 5] ^= 1;
      ClientSession sb = kms.bootstrap(kms.ue, p.bob());
      UeClient.PendingRetrieval pr = kms.ueSdk.retrieval(sb, d.offer().offerBytes(), ticket);
      assertProblem(kms.post(kms.ue, "/v1/deferred/retrieve",
          JsonMessages.toJson(RetrievalRequest.decode(pr.requestBytes()))), 401, "INTEGRITY");
    }
    assertEquals(0.0, leftWhenIdle());
    // The recovered keys kept for reuse: alice's Ka, vm.bob's Km and bob's Kb of the B-TIDs the
    // flows used, at least one each, never more than the default hsm.sharedKeys.
    double shared = gauge(SHARED);
    assertTrue(shared >= 3 && shared <= 4096, "shared keys: " + shared);
    double created = gauge(CREATED) - createdBefore;
    assertTrue(created >= 10 * 8, "session objects created: " + created);
  }
}
