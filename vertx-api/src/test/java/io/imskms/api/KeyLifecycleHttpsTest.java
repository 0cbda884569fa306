package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.UeClient;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.KeyState;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Ticket;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A running server and an operator's key ring on the same token (what {@code kms keys rotate} /
 * {@code kms keys state} do): the server issues with a new version, and refuses a retired one
 * with 410 KEY_RETIRED, within 5 s and without a restart, and records what it observed in its
 * audit trail.
 */
class KeyLifecycleHttpsTest {
  private static final Duration DEADLINE = Duration.ofSeconds(5);
  private static TestKms kms;
  private static TestKms.Principals p;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> { }); // production poll interval (2 s)
    p = kms.enrolAll();
  }

  @AfterAll
  static void stop() {
    if (kms != null) {
      kms.close();
    }
  }

  @Test
  void runningServer_issuesWithTheRotatedVersion_andRefusesTheRetiredOne_within5s()
      throws Exception {
    TestKms.Delivery before = kms.deliver(p, false);
    int old = Ticket.decode(before.grant().ticket()).ticketRootVersion();
    KeyRing operator = KeyRing.load(kms.app.hsm());
    int next = operator.rotate(KeyPurpose.TICKET_ROOT, Duration.ZERO).version();

    long until = System.nanoTime() + DEADLINE.toNanos();
    int seen = old;
    while (seen != next && System.nanoTime() < until) {
      seen = Ticket.decode(kms.deliver(p, false).grant().ticket()).ticketRootVersion();
    }
    assertEquals(next, seen, "the server did not issue with " + next + " within " + DEADLINE);
    // The ticket from before the rotation is still served (decrypt-only).
    assertTrue(before.kAtA().equalContents(kms.retrieve(p, before)));

    operator.setState(KeyPurpose.TICKET_ROOT, old, KeyState.RETIRED, Duration.ZERO);
    until = System.nanoTime() + DEADLINE.toNanos();
    int status = 200;
    HttpResponse<Buffer> r = null;
    while (status == 200 && System.nanoTime() < until) {
      r = retrieval(before);
      status = r.statusCode();
    }
    assertProblem(r, 410, "KEY_RETIRED");

    Path audit = kms.work.resolve("audit");
    until = System.nanoTime() + DEADLINE.toNanos();
    boolean recorded = false;
    while (!recorded && System.nanoTime() < until) {
      recorded = AuditTrailHttpsTest.lines(audit).stream().anyMatch(l -> l.contains("keys.state")
          && l.contains(KeyPurpose.TICKET_ROOT.id(old) + " is now retired"));
      if (!recorded) {
        Thread.sleep(100);
      }
    }
    assertTrue(recorded, "no keys.state record of the retirement");
    assertTrue(AuditTrailHttpsTest.lines(audit).stream().anyMatch(l -> l.contains("keys.state")
        && l.contains("at start: ") && l.contains(KeyPurpose.TICKET_ROOT.id(old) + " active")),
        "no keys.state record of the states at start");
  }

  private static HttpResponse<Buffer> retrieval(TestKms.Delivery d) throws Exception {
    ClientSession sb = kms.bootstrap(kms.ue, p.bob());
    UeClient.PendingRetrieval pr = kms.ueSdk.retrieval(sb, d.offer().offerBytes(),
        d.grant().ticket());
    return kms.post(kms.ue, "/v1/deferred/retrieve",
        JsonMessages.toJson(RetrievalRequest.decode(pr.requestBytes())));
  }

}
