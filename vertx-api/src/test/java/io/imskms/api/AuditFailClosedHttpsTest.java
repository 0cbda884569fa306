package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.audit.AuditRecord;
import io.imskms.audit.FaultyDisk;
import io.imskms.audit.LogVerifier;
import io.imskms.audit.VerifierKey;
import io.imskms.client.ClientSession;
import io.imskms.protocol.MailboxKeyRequest;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fail-closed: while the audit disk fails (full, I/O error) a key request that the KMS would
 * grant is answered 503 AUDIT_UNAVAILABLE without the key, readiness is down, and both come back
 * by themselves when the disk recovers; the outage is itself recorded and the log verifies.
 */
class AuditFailClosedHttpsTest {

  @Test
  void auditDiskFailing_keyRequestIs503WithoutTheKey_readyDown_thenRecoversByItself()
      throws Exception {
    FaultyDisk disk = new FaultyDisk();
    Path dir;
    String vkey;
    try (TestKms kms = TestKms.start(env -> { }, disk::open)) {
      dir = kms.work.resolve("audit");
      vkey = kms.app.audit().verifierKey().encode();
      TestKms.Principals p = kms.enrolAll();
      kms.deliver(p, false);
      assertEquals(200, kms.ue.get("/health/ready").send().await().statusCode());

      ClientSession sa = kms.bootstrap(kms.ue, p.alice());
      ClientSession sm = kms.bootstrap(kms.vmBob, p.vmBob());
      var offer = kms.ueSdk.offer(sa, TestKms.BOB);
      JsonObject request = JsonMessages.toJson(MailboxKeyRequest.decode(
          kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), true).requestBytes()));

      disk.failing(true);
      HttpResponse<Buffer> refused = kms.post(kms.vmBob, "/v1/deferred/key-request", request);
      assertProblem(refused, 503, "AUDIT_UNAVAILABLE");
      assertEquals("1", refused.getHeader("Retry-After"));
      assertFalse(refused.bodyAsString().contains("ticket")
          || refused.bodyAsString().contains("wrapped"), "nothing of the grant is released");
      HttpResponse<Buffer> ready = kms.ue.get("/health/ready").send().await();
      assertEquals(503, ready.statusCode());
      assertEquals(false, ready.bodyAsJsonObject().getJsonObject("audit").getBoolean("ready"));
      // A refusal cannot be recorded either: it is answered AUDIT_UNAVAILABLE too.
      assertProblem(kms.post(kms.ue, "/v1/deferred/key-request", request), 503,
          "AUDIT_UNAVAILABLE");
      // The operator sees where those answers waited: appends that failed, by outcome.
      assertTrue(kms.ue.get("/metrics").send().await().bodyAsString()
          .contains("kms_audit_append_seconds_count{outcome=\"AUDIT_UNAVAILABLE\"}"));

      disk.failing(false);
      int status = 0;
      for (int i = 0; i < 60 && status != 200; i++) {
        Thread.sleep(100);
        status = kms.ue.get("/health/ready").send().await().statusCode();
      }
      assertEquals(200, status, "ready again without a restart once the disk works");
      kms.deliver(p, true);
    }
    LogVerifier.Report report = LogVerifier.verify(dir, VerifierKey.parse(vkey), List.of());
    assertTrue(report.ok(), report.findings().toString());
    List<AuditRecord> records = AuditTrailHttpsTest.records(dir);
    AuditRecord fault = records.stream().filter(r -> r.event().event().equals("audit.fault"))
        .findFirst().orElseThrow(() -> new AssertionError("the outage is recorded"));
    assertEquals("AUDIT_UNAVAILABLE", fault.event().code());
    // The grant's two records (key request, Ke2m) and the anonymous refusal's one.
    assertTrue(fault.event().detail().contains("3 records refused"), fault.event().detail());
    assertEquals(2, records.stream().filter(r -> r.event().event().equals("mailbox_key_request")
        && r.event().outcome().wire().equals("ok")).count(),
        "the refused grant left no record; the two answered ones did");
  }
}
