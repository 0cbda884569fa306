package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms.Delivery;
import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.api.config.ConfigLoader;
import io.imskms.audit.AuditRecord;
import io.imskms.audit.LogVerifier;
import io.imskms.audit.VerifierKey;
import io.imskms.client.ClientSession;
import io.imskms.protocol.MailboxKeyRequest;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code audit.identities: pseudonymised} on a running server over real HTTPS and SoftHSM2: every
 * identity field of every record (grants, Ke2m, retrieval, bootstraps, a refusal of a caller
 * never seen before, whose HMAC runs off the event loop) is the {@code p1:} pseudonym that the
 * pseudonym key in the token gives for it, computed again here through a pseudonymiser with an
 * empty cache; no identity appears in clear anywhere in the log, which still verifies.
 */
class AuditPseudonymsHttpsTest {

  @Test
  void pseudonymisedRecords_carryTheHsmsP1Values_andNeverAnIdentityInClear() throws Exception {
    Path dir;
    String vkey;
    String witnessed;
    String refusedId = "pseudonym-test-refused";
    Map<String, String> p1 = new HashMap<>();
    try (TestKms kms = TestKms.start(env -> env.put("KMS_AUDIT_IDENTITIES", "pseudonymised"))) {
      dir = kms.work.resolve("audit");
      vkey = kms.app.audit().verifierKey().encode();
      TestKms.Principals p = kms.enrolAll();
      Delivery d = kms.deliver(p, true);
      kms.retrieve(p, d);

      // vm.carol's certificate for vm.bob's request: vm.carol is a caller not seen before.
      ClientSession sa = kms.bootstrap(kms.ue, p.alice());
      ClientSession sm = kms.bootstrap(kms.vmBob, p.vmBob());
      var offer = kms.ueSdk.offer(sa, TestKms.BOB);
      var json = JsonMessages.toJson(MailboxKeyRequest.decode(
          kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), false).requestBytes()));
      assertProblem(kms.vmCarol.post("/v1/deferred/key-request")
          .putHeader("content-type", "application/json")
          .putHeader(RequestTracking.REQUEST_ID_HEADER, refusedId)
          .sendBuffer(json.toBuffer()).await(), 403, "CLIENT_CERT_IDENTITY_MISMATCH");
      witnessed = AuditTrailHttpsTest.awaitCheckpoint(kms);

      AuditPseudonyms fresh = AuditPseudonyms.open(kms.app.hsm(),
          ConfigLoader.load(null, Map.of()).audit());
      for (String id : List.of(TestKms.ALICE, TestKms.BOB, TestKms.VM_BOB, TestKms.VM_CAROL)) {
        p1.put(id, fresh.pseudonym(id));
      }
      assertEquals(4, fresh.hsmOperations(), "computed through the HSM, not from a cache");
    }
    LogVerifier.Report report = LogVerifier.verify(dir, VerifierKey.parse(vkey),
        List.of(witnessed));
    assertTrue(report.ok(), report.findings().toString());

    List<AuditRecord> records = AuditTrailHttpsTest.records(dir);
    AuditRecord grant = records.stream().filter(r -> r.event().event()
        .equals("mailbox_key_request") && r.event().outcome().wire().equals("ok"))
        .findFirst().orElseThrow();
    assertEquals(p1.get(TestKms.ALICE), grant.event().idA());
    assertEquals(p1.get(TestKms.BOB), grant.event().idB());
    assertEquals(p1.get(TestKms.VM_BOB), grant.event().idBm());
    assertEquals(p1.get(TestKms.VM_BOB), grant.event().caller());
    AuditRecord ke2m = records.stream().filter(r -> r.event().event().equals("ke2m_issued"))
        .findFirst().orElseThrow();
    assertEquals(p1.get(TestKms.VM_BOB), ke2m.event().idBm());
    AuditRecord retrieval = records.stream().filter(r -> r.event().event().equals("retrieve"))
        .findFirst().orElseThrow();
    assertEquals(p1.get(TestKms.BOB), retrieval.event().caller());
    assertEquals(grant.event().ticket(), retrieval.event().ticket(), "still linked");
    AuditRecord refused = records.stream()
        .filter(r -> refusedId.equals(r.event().requestId())).findFirst().orElseThrow();
    assertEquals(p1.get(TestKms.VM_CAROL), refused.event().caller());
    assertEquals(p1.get(TestKms.VM_BOB), refused.event().idBm());
    long bootstraps = records.stream().filter(r -> r.event().event().equals("bootstrap")
        && p1.get(TestKms.ALICE).equals(r.event().caller())).count();
    assertTrue(bootstraps >= 2, "alice's bootstraps carry her pseudonym: " + bootstraps);

    String all = String.join("\n", AuditTrailHttpsTest.lines(dir));
    for (String id : p1.keySet()) {
      String user = id.substring("sip:".length(), id.indexOf('@'));
      assertFalse(all.contains(id) || all.contains(user + "@"), id + " in clear in the log");
    }
  }
}
