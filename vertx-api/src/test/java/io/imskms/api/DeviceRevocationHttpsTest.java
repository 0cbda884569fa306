package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.UeClient;
import io.imskms.core.LongTermKeys;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Role;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Device revocation and re-enrolment over real HTTPS with two running servers on one real
 * SoftHSM2 token: the operator (what {@code kms devices revoke|reinstate} and {@code kms enroll
 * --replace} do) writes the shared record through the first server's token session, and the
 * second server, polling every 2 s as in production, answers 403 PRINCIPAL_REVOKED within 5 s, for
 * a bootstrap and for requests that carry a B-TID issued before the revocation; a server started
 * afterwards refuses too; a forged or removed record fails closed. The steps build on each other.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DeviceRevocationHttpsTest {
  private static final Duration DEADLINE = Duration.ofSeconds(5);
  private static TestKms kms;
  private static TestKms node2;
  private static TestKms node3;
  private static TestKms.Principals p;
  private static PrincipalRegistry operator;
  private static EcdhEnrolment enrolment;
  /** Alice's first credential, superseded by her re-enrolment in step 3. */
  private static Credential oldAlice;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> { }); // production poll interval (2 s)
    node2 = kms.startSecondNode();
    p = kms.enrolAll();
    oldAlice = p.alice();
    operator = PrincipalRegistry.load(kms.app.hsm());
    enrolment = new EcdhEnrolment(kms.app.hsm(), LongTermKeys.of(KeyRing.load(kms.app.hsm())),
        MailboxDirectory.load(kms.work.resolve("directory.json")), operator);
  }

  @AfterAll
  static void stop() {
    for (TestKms k : new TestKms[] {node3, node2, kms}) {
      if (k != null) {
        k.close();
      }
    }
  }

  private static HttpResponse<Buffer> bootstrapAt(TestKms node, Credential c) {
    Bootstrapping.Pending pending = node.bootstrapping.start(c);
    JsonObject req;
    try {
      req = JsonMessages.toJson(BootstrapRequest.decode(pending.requestBytes()));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    return node.post(c.role() == Role.MAILBOX ? node.vmBob : node.ue, "/v1/bootstrap", req);
  }

  /** Repeats {@code call} until it answers {@code status} or the deadline passes; the last answer. */
  private static HttpResponse<Buffer> until(int status, Supplier<HttpResponse<Buffer>> call)
      throws InterruptedException {
    long end = System.nanoTime() + DEADLINE.toNanos();
    HttpResponse<Buffer> r = call.get();
    while (r.statusCode() != status && System.nanoTime() < end) {
      Thread.sleep(100);
      r = call.get();
    }
    return r;
  }

  private static HttpResponse<Buffer> keyRequest(TestKms node, ClientSession sa,
      ClientSession sm) throws Exception {
    UeClient.OutgoingOffer offer = node.ueSdk.offer(sa, TestKms.BOB);
    MailboxClient.PendingKeyRequest req = node.mailboxSdk.keyRequest(sm, offer.offerBytes(),
        false);
    return node.post(node.vmBob, "/v1/deferred/key-request",
        JsonMessages.toJson(MailboxKeyRequest.decode(req.requestBytes())));
  }

  private static HttpResponse<Buffer> retrieval(TestKms node, ClientSession sb,
      TestKms.Delivery d) throws Exception {
    UeClient.PendingRetrieval pr = node.ueSdk.retrieval(sb, d.offer().offerBytes(),
        d.grant().ticket());
    return node.post(node.ue, "/v1/deferred/retrieve",
        JsonMessages.toJson(RetrievalRequest.decode(pr.requestBytes())));
  }

  private static boolean audited(TestKms node, String... parts) throws Exception {
    long end = System.nanoTime() + DEADLINE.toNanos();
    do {
      if (AuditTrailHttpsTest.lines(node.work.resolve("audit")).stream()
          .anyMatch(l -> Arrays.stream(parts).allMatch(l::contains))) {
        return true;
      }
      Thread.sleep(100);
    } while (System.nanoTime() < end);
    return false;
  }

  @Test
  @Order(1)
  void revoked_isRefusedBySecondServerWithin5s_atBootstrapAndWithBtidsIssuedBefore()
      throws Exception {
    // Issued by the second server before the revocation.
    ClientSession saBefore = node2.bootstrap(node2.ue, p.alice());
    ClientSession smBefore = node2.bootstrap(node2.vmBob, p.vmBob());
    TestKms.Delivery left = node2.deliver(p, false);
    ClientSession sbBefore = node2.bootstrap(node2.ue, p.bob());

    long t0 = System.nanoTime();
    operator.revoke(TestKms.ALICE, "device reported stolen");
    operator.revoke(TestKms.BOB, null);
    HttpResponse<Buffer> r = until(403, () -> bootstrapAt(node2, p.alice()));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertProblem(r, 403, "PRINCIPAL_REVOKED");
    assertTrue(ms <= DEADLINE.toMillis(), "refused after " + ms + " ms");
    System.out.println("revocation: second server refuses after " + ms + " ms");

    // A mailbox key request carrying alice's B-TID from before, and bob's retrieval with his.
    assertProblem(keyRequest(node2, saBefore, smBefore), 403, "PRINCIPAL_REVOKED");
    assertProblem(retrieval(node2, sbBefore, left), 403, "PRINCIPAL_REVOKED");
    // The mailbox itself is not revoked.
    assertEquals(200, bootstrapAt(node2, p.vmBob()).statusCode());
    assertTrue(audited(node2, "devices.state", "observed: revoked"),
        "no devices.state record on the second server");

    // A server started after the revocation (a restart) refuses from its first request.
    node3 = kms.startSecondNode();
    assertProblem(bootstrapAt(node3, p.alice()), 403, "PRINCIPAL_REVOKED");
    assertProblem(bootstrapAt(node3, p.bob()), 403, "PRINCIPAL_REVOKED");
    assertTrue(audited(node3, "devices.state", "at start: 2 revoked"));
  }

  @Test
  @Order(2)
  void reinstated_isAcceptedAgainWithin5s() throws Exception {
    operator.reinstate(TestKms.ALICE);
    operator.reinstate(TestKms.BOB);
    assertEquals(200, until(200, () -> bootstrapAt(node2, p.alice())).statusCode());
    assertEquals(200, until(200, () -> bootstrapAt(node3, p.bob())).statusCode());
    TestKms.Delivery d = node2.deliver(p, false);
    assertTrue(d.kAtA().equalContents(node2.retrieve(p, d)));
  }

  @Test
  @Order(3)
  void reenrolled_newCredentialWorks_oldCredentialAndItsBtidsAreRefused() throws Exception {
    ClientSession oldSession = node2.bootstrap(node2.ue, p.alice());
    operator.reenrol(TestKms.ALICE);
    DeviceEnrolment device = new DeviceEnrolment(Role.UE, TestKms.ALICE);
    Credential fresh = device.open(enrolment.enrol(device.requestBytes()));
    assertEquals(1, fresh.generation());

    assertEquals(200, until(200, () -> bootstrapAt(node2, fresh)).statusCode());
    assertProblem(bootstrapAt(node2, p.alice()), 403, "PRINCIPAL_REVOKED");
    assertProblem(keyRequest(node2, oldSession, node2.bootstrap(node2.vmBob, p.vmBob())), 403,
        "PRINCIPAL_REVOKED");
    TestKms.Principals renewed = new TestKms.Principals(fresh, p.bob(), p.carol(), p.vmBob(),
        p.vmCarol());
    TestKms.Delivery d = node2.deliver(renewed, true);
    assertTrue(d.kAtA().equalContents(node3.retrieve(renewed, d)));
    p = renewed;
  }

  @Test
  @Order(4)
  void forgedRecord_keepsTheLastGoodState_recordsAFault_andStopsAStart() throws Exception {
    byte[] good = kms.app.hsm().readDataObjects(PrincipalRegistry.OBJECT_LABEL).get(0);
    byte[] forged = good.clone();
    forged[forged.length - 3] ^= 1; // a change to the document: the MAC no longer verifies
    kms.app.hsm().replaceDataObject(PrincipalRegistry.OBJECT_LABEL, forged);
    assertTrue(audited(node2, "devices.state", "PRINCIPAL_STATE_UNREADABLE"),
        "no devices.state fault on the second server");
    assertEquals(200, bootstrapAt(node2, p.alice()).statusCode(), "last good state in force");
    assertProblem(bootstrapAt(node2, oldAlice), 403, "PRINCIPAL_REVOKED");
    // What a starting server reads first (CoreOperations.open): it refuses to start on it.
    assertThrows(HsmIntegrityException.class, () -> PrincipalRegistry.load(kms.app.hsm()));
    kms.app.hsm().replaceDataObject(PrincipalRegistry.OBJECT_LABEL, good);
  }

  @Test
  @Order(5)
  void removedRecord_whileItsMacKeyIsInTheToken_keepsTheLastGoodState_andStopsAStart()
      throws Exception {
    // node3 must have read the good record (restored by the previous test) before it goes: its
    // last good state is then the re-enrolment, which refuses alice's old credential.
    assertProblem(until(403, () -> bootstrapAt(node3, oldAlice)), 403, "PRINCIPAL_REVOKED");
    ProcessBuilder pb = new ProcessBuilder("pkcs11-tool", "--module",
        kms.token.module().toString(), "--token-label", kms.token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN", "--delete-object", "--type", "data", "--label",
        PrincipalRegistry.OBJECT_LABEL).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", kms.token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", kms.token.userPinForTest());
    Process proc = pb.start();
    String out = new String(proc.getInputStream().readAllBytes());
    assertTrue(proc.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, proc.exitValue(), out);
    assertTrue(audited(node3, "devices.state", "PRINCIPAL_STATE_UNREADABLE", "removed"),
        "no devices.state fault for the removed record");
    assertProblem(bootstrapAt(node3, oldAlice), 403, "PRINCIPAL_REVOKED");
    HsmIntegrityException e = assertThrows(HsmIntegrityException.class,
        () -> PrincipalRegistry.load(kms.app.hsm()));
    assertTrue(e.getMessage().contains("removed"), e.getMessage());
  }
}
