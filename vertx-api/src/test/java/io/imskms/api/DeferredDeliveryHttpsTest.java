package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms.Delivery;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.RetrievalRequest;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Figures 17, 18 and 19 over real HTTPS against kms-core on SoftHSM2, with the client SDK as UE-A,
 * the mailbox and UE-B; the protocol's refusals at the HTTP level (status and code); mutual TLS
 * refusals; and 200 concurrent flows.
 */
@ExtendWith(VertxExtension.class)
class DeferredDeliveryHttpsTest {
  private static TestKms kms;
  private static TestKms.Principals all;
  private static Credential alice;
  private static Credential bob;
  private static Credential carol;
  private static Credential vmBob;
  private static Credential vmCarol;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> env.put("KMS_WORKER_QUEUE_LIMIT", "512"));
    all = kms.enrolAll();
    alice = all.alice();
    bob = all.bob();
    carol = all.carol();
    vmBob = all.vmBob();
    vmCarol = all.vmCarol();
  }

  @AfterAll
  static void stop() {
    kms.close();
  }

  private static Delivery deliver(boolean e2m) throws Exception {
    return kms.deliver(all, e2m);
  }

  private static SecretBytes retrieve(Delivery d) throws Exception {
    return kms.retrieve(all, d);
  }

  @Test
  void figures17and18_ueAAndUeBGetTheSameMediaKey() throws Exception {
    Delivery d = deliver(false);
    assertTrue(d.kAtA().equalContents(retrieve(d)));
  }

  @Test
  void figure19_ueAAndMailboxShareKe2m_distinctFromK() throws Exception {
    Delivery d = deliver(true);
    SecretBytes atA = d.keysAtA().e2mKey().orElseThrow();
    SecretBytes atM = d.grant().e2mKey().orElseThrow();
    assertTrue(atA.equalContents(atM));
    assertFalse(atA.equalContents(d.kAtA()));
    assertTrue(d.kAtA().equalContents(retrieve(d)));
  }

  @Test
  void keyRequest_replayed_is409Replay() throws Exception {
    Delivery d = deliver(false);
    assertProblem(kms.post(kms.vmBob, "/v1/deferred/key-request", d.keyRequestJson()), 409,
        "REPLAY");
  }

  @Test
  void retrieve_byTheMailboxWithItsOwnBtid_is403NotAuthorised() throws Exception {
    Delivery d = deliver(false);
    ClientSession sm = kms.bootstrap(kms.vmBob, vmBob);
    assertProblem(kms.post(kms.ue, "/v1/deferred/retrieve",
        forgedRetrieval(sm, d)), 403, "NOT_AUTHORISED");
  }

  @Test
  void retrieve_byAnotherUeWithTheTicket_is403NotAuthorised() throws Exception {
    Delivery d = deliver(false);
    ClientSession sc = kms.bootstrap(kms.ue, carol);
    assertProblem(kms.post(kms.ue, "/v1/deferred/retrieve", forgedRetrieval(sc, d)), 403,
        "NOT_AUTHORISED");
  }

  private static JsonObject forgedRetrieval(ClientSession caller, Delivery d) {
    return JsonMessages.toJson(new RetrievalRequest(caller.btidBytes(), d.offer().offerBytes(),
        d.grant().ticket(), new byte[12], new byte[48]));
  }

  @Test
  void retrieve_withTamperedTicket_is401Integrity() throws Exception {
    Delivery d = deliver(false);
    byte[] ticket = d.grant().ticket().clone();
    ticket[ticket.length - 5] ^= 1;
    ClientSession sb = kms.bootstrap(kms.ue, bob);
    UeClient.PendingRetrieval pr = kms.ueSdk.retrieval(sb, d.offer().offerBytes(), ticket);
    assertProblem(kms.post(kms.ue, "/v1/deferred/retrieve",
        JsonMessages.toJson(RetrievalRequest.decode(pr.requestBytes()))), 401, "INTEGRITY");
  }

  @Test
  void keyRequest_withTamperedEm_is401Integrity() throws Exception {
    ClientSession sa = kms.bootstrap(kms.ue, alice);
    ClientSession sm = kms.bootstrap(kms.vmBob, vmBob);
    UeClient.OutgoingOffer offer = kms.ueSdk.offer(sa, TestKms.BOB);
    MailboxKeyRequest r = MailboxKeyRequest.decode(
        kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), false).requestBytes());
    byte[] ct = r.ciphertext().clone();
    ct[0] ^= 1;
    JsonObject json = JsonMessages.toJson(new MailboxKeyRequest(r.wantE2m(), r.idBm(), r.btidM(),
        r.offer(), r.iv(), ct));
    assertProblem(kms.post(kms.vmBob, "/v1/deferred/key-request", json), 401, "INTEGRITY");
  }

  @Test
  void keyRequest_byAnotherUsersMailbox_is403WrongMailbox() throws Exception {
    ClientSession sa = kms.bootstrap(kms.ue, alice);
    ClientSession smc = kms.bootstrap(kms.vmCarol, vmCarol);
    UeClient.OutgoingOffer offer = kms.ueSdk.offer(sa, TestKms.BOB);
    MailboxClient.PendingKeyRequest req = kms.mailboxSdk.keyRequest(smc, offer.offerBytes(),
        false);
    assertProblem(kms.post(kms.vmCarol, "/v1/deferred/key-request",
        JsonMessages.toJson(MailboxKeyRequest.decode(req.requestBytes()))), 403, "WRONG_MAILBOX");
  }

  @Test
  void keyRequest_withoutClientCertificate_is401() throws Exception {
    ClientSession sa = kms.bootstrap(kms.ue, alice);
    ClientSession sm = kms.bootstrap(kms.vmBob, vmBob);
    UeClient.OutgoingOffer offer = kms.ueSdk.offer(sa, TestKms.BOB);
    JsonObject json = JsonMessages.toJson(MailboxKeyRequest.decode(
        kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), false).requestBytes()));
    assertProblem(kms.post(kms.ue, "/v1/deferred/key-request", json), 401,
        "CLIENT_CERT_REQUIRED");
    // Even a body that is not valid gets 401 first: nothing is parsed for an anonymous caller.
    assertProblem(kms.post(kms.ue, "/v1/deferred/key-request", new JsonObject()), 401,
        "CLIENT_CERT_REQUIRED");
  }

  @Test
  void keyRequest_withAnotherMailboxCertificate_is403() throws Exception {
    ClientSession sa = kms.bootstrap(kms.ue, alice);
    ClientSession sm = kms.bootstrap(kms.vmBob, vmBob);
    UeClient.OutgoingOffer offer = kms.ueSdk.offer(sa, TestKms.BOB);
    JsonObject json = JsonMessages.toJson(MailboxKeyRequest.decode(
        kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), false).requestBytes()));
    assertProblem(kms.post(kms.vmCarol, "/v1/deferred/key-request", json), 403,
        "CLIENT_CERT_IDENTITY_MISMATCH");
  }

  @Test
  void mailboxBootstrap_withoutOrWithWrongCertificate_isRefused() throws Exception {
    JsonObject json = JsonMessages.toJson(
        BootstrapRequest.decode(kms.bootstrapping.start(vmBob).requestBytes()));
    assertProblem(kms.post(kms.ue, "/v1/bootstrap", json), 401, "CLIENT_CERT_REQUIRED");
    assertProblem(kms.post(kms.vmCarol, "/v1/bootstrap", json), 403,
        "CLIENT_CERT_IDENTITY_MISMATCH");
  }

  @Test
  void bootstrap_withWrongProof_is401Integrity() throws Exception {
    BootstrapRequest r = BootstrapRequest.decode(kms.bootstrapping.start(alice).requestBytes());
    byte[] proof = r.proof().clone();
    proof[3] ^= 1;
    assertProblem(kms.post(kms.ue, "/v1/bootstrap", JsonMessages.toJson(new BootstrapRequest(
        r.role(), r.id(), r.credVersion(), r.nonce(), r.timestampMs(), proof))), 401,
        "INTEGRITY");
  }

  @Test
  void bootstrap_asAnUnenrolledUe_is401Integrity() throws Exception {
    // A UE that was never enrolled cannot know its Kp: the proof does not verify.
    BootstrapRequest r = BootstrapRequest.decode(kms.bootstrapping.start(alice).requestBytes());
    assertProblem(kms.post(kms.ue, "/v1/bootstrap", JsonMessages.toJson(
        new BootstrapRequest(r.role(), "sip:mallory@ims.example.com", r.credVersion(),
            r.nonce(), r.timestampMs(), r.proof()))), 401, "INTEGRITY");
  }

  @Test
  void twoHundredConcurrentFlows_allSucceed_noneAnsweredForAnother() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(32);
    try {
      List<Future<Boolean>> flows = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        boolean e2m = i % 2 == 0;
        flows.add(pool.submit(() -> {
          Delivery d = deliver(e2m);
          return d.kAtA().equalContents(retrieve(d));
        }));
      }
      int ok = 0;
      for (Future<Boolean> f : flows) {
        if (f.get()) {
          ok++;
        }
      }
      assertEquals(200, ok);
    } finally {
      pool.shutdownNow();
    }
    String metrics = kms.ue.get("/metrics").send().await().bodyAsString();
    assertTrue(metrics.contains("kms_operations_seconds_count{operation=\"retrieve\","
        + "outcome=\"ok\"}"));
  }
}
