package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms.Delivery;
import io.imskms.audit.AuditRecord;
import io.imskms.audit.LogVerifier;
import io.imskms.audit.VerifierKey;
import io.imskms.client.ClientSession;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.client.HttpResponse;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The audit trail of a running server over real HTTPS and SoftHSM2: one record per decision with
 * the right fields and no secret, each answer sent after its record, and a log that verifies with
 * only the verifier key printed at start-up, against the checkpoint a witness fetched.
 */
class AuditTrailHttpsTest {

  @Test
  void everyDecision_isRecorded_withItsFields_andTheLogVerifiesWithTheVerifierKeyAlone()
      throws Exception {
    Path dir;
    String vkey;
    String witnessed;
    Delivery d;
    byte[] vmBobCert;
    String refusedId = "audit-test-refused-1";
    String bootRefusedId = "audit-test-bootstrap-refused";
    try (TestKms kms = TestKms.start(env -> { })) {
      dir = kms.work.resolve("audit");
      vkey = kms.app.audit().verifierKey().encode();
      vmBobCert = der(kms.app.devTls().clientCert(TestKms.VM_BOB));
      TestKms.Principals p = kms.enrolAll();
      d = kms.deliver(p, true);
      kms.retrieve(p, d);

      // A refused key request (another mailbox's certificate) with a request id we choose.
      ClientSession sa = kms.bootstrap(kms.ue, p.alice());
      ClientSession sm = kms.bootstrap(kms.vmBob, p.vmBob());
      var offer = kms.ueSdk.offer(sa, TestKms.BOB);
      var json = JsonMessages.toJson(MailboxKeyRequest.decode(
          kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), false).requestBytes()));
      assertProblem(kms.vmCarol.post("/v1/deferred/key-request")
          .putHeader("content-type", "application/json")
          .putHeader(RequestTracking.REQUEST_ID_HEADER, refusedId)
          .sendBuffer(json.toBuffer()).await(), 403, "CLIENT_CERT_IDENTITY_MISMATCH");
      // A refused bootstrap (wrong proof).
      BootstrapRequest r = BootstrapRequest.decode(
          kms.bootstrapping.start(p.alice()).requestBytes());
      byte[] proof = r.proof().clone();
      proof[0] ^= 1;
      assertProblem(kms.ue.post("/v1/bootstrap").putHeader("content-type", "application/json")
          .putHeader(RequestTracking.REQUEST_ID_HEADER, bootRefusedId)
          .sendBuffer(JsonMessages.toJson(new BootstrapRequest(r.role(), r.id(), r.credVersion(),
              r.nonce(), r.timestampMs(), proof)).toBuffer()).await(), 401, "INTEGRITY");

      witnessed = awaitCheckpoint(kms);
      assertTrue(witnessed.startsWith("imskms.example/audit/node-1\n"), witnessed);
    }
    // Offline, after shutdown: only the verifier key (as text) and the witnessed checkpoint.
    LogVerifier.Report report = LogVerifier.verify(dir, VerifierKey.parse(vkey),
        List.of(witnessed));
    assertTrue(report.ok(), report.findings().toString());
    assertTrue(report.findings().isEmpty(), "covered by the shutdown checkpoint: "
        + report.findings());

    List<AuditRecord> records = records(dir);
    assertEquals("server.start", records.get(0).event().event());
    assertEquals("server.stop", records.get(records.size() - 1).event().event());

    String ticket = "sha256:" + HexFormat.of().formatHex(sha256(d.grant().ticket()));
    AuditRecord grant = one(records, "mailbox_key_request", "ok", ticket);
    assertEquals(TestKms.ALICE, grant.event().idA());
    assertEquals(TestKms.BOB, grant.event().idB());
    assertEquals(TestKms.VM_BOB, grant.event().idBm());
    assertEquals(TestKms.VM_BOB, grant.event().caller());
    assertEquals("sha256:" + HexFormat.of().formatHex(sha256(vmBobCert)),
        grant.event().clientCert());
    assertTrue(grant.event().keyVersions().contains("media-root:1")
        && grant.event().keyVersions().contains("ticket-root:1"), grant.event().keyVersions());
    assertNotNull(grant.event().requestId());
    AuditRecord ke2m = one(records, "ke2m_issued", "ok", ticket);
    assertEquals(grant.event().requestId(), ke2m.event().requestId());
    AuditRecord retrieval = one(records, "retrieve", "ok", ticket);
    assertEquals(TestKms.BOB, retrieval.event().caller());
    assertNull(retrieval.event().clientCert(), "UE-B has no client certificate");

    AuditRecord refused = byRequestId(records, refusedId);
    assertEquals("mailbox_key_request", refused.event().event());
    assertEquals("refused", refused.event().outcome().wire());
    assertEquals("CLIENT_CERT_IDENTITY_MISMATCH", refused.event().code());
    assertEquals(TestKms.VM_BOB, refused.event().idBm());
    assertEquals(TestKms.VM_CAROL, refused.event().caller());
    AuditRecord bootRefused = byRequestId(records, bootRefusedId);
    assertEquals("bootstrap", bootRefused.event().event());
    assertEquals("INTEGRITY", bootRefused.event().code());
    assertEquals(TestKms.ALICE, bootRefused.event().caller());
    assertTrue(records.stream().filter(x -> x.event().event().equals("bootstrap")
        && x.event().outcome().wire().equals("ok")).count() >= 4, "each bootstrap granted");

    // Never a ticket body, wrapped key, offer or ciphertext: none of their encodings appears.
    String all = String.join("\n", lines(dir));
    for (byte[] secret : List.of(d.grant().ticket(), d.offer().offerBytes())) {
      for (String enc : List.of(Base64.getUrlEncoder().withoutPadding().encodeToString(secret),
          Base64.getEncoder().encodeToString(secret), HexFormat.of().formatHex(secret))) {
        assertFalse(all.contains(enc.substring(0, 24)), "a protocol body leaked into the log");
      }
    }
  }

  static String awaitCheckpoint(TestKms kms) throws InterruptedException {
    long size = kms.app.audit().size();
    for (int i = 0; i < 50; i++) {
      HttpResponse<Buffer> r = kms.ue.get("/v1/audit/checkpoint").send().await();
      if (r.statusCode() == 200) {
        assertTrue(r.getHeader("content-type").startsWith("text/plain"));
        String note = r.bodyAsString();
        long covered = Long.parseLong(note.split("\n")[1]);
        if (covered >= size) {
          return note;
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError("no checkpoint covering " + size + " records within 5 s");
  }

  static List<String> lines(Path dir) throws Exception {
    List<String> out = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path f : s.filter(x -> x.getFileName().toString().endsWith(".jsonl")).sorted()
          .toList()) {
        out.addAll(Files.readAllLines(f, StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  static List<AuditRecord> records(Path dir) throws Exception {
    List<AuditRecord> out = new ArrayList<>();
    for (String l : lines(dir)) {
      out.add(AuditRecord.parse(l.getBytes(StandardCharsets.UTF_8)));
    }
    return out;
  }

  private static AuditRecord one(List<AuditRecord> rs, String event, String outcome,
      String ticket) {
    List<AuditRecord> m = rs.stream().filter(r -> r.event().event().equals(event)
        && r.event().outcome().wire().equals(outcome) && ticket.equals(r.event().ticket()))
        .toList();
    assertEquals(1, m.size(), event + " " + outcome + " records for the ticket: " + m);
    return m.get(0);
  }

  private static AuditRecord byRequestId(List<AuditRecord> rs, String id) {
    List<AuditRecord> m = rs.stream().filter(r -> id.equals(r.event().requestId())).toList();
    assertEquals(1, m.size(), "records of request " + id + ": " + m);
    return m.get(0);
  }

  private static byte[] der(Path pem) throws Exception {
    try (InputStream in = Files.newInputStream(pem)) {
      return CertificateFactory.getInstance("X.509").generateCertificate(in).getEncoded();
    }
  }

  private static byte[] sha256(byte[] b) throws Exception {
    return MessageDigest.getInstance("SHA-256").digest(b);
  }
}
