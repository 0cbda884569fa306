package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.api.config.ConfigLoader;
import io.imskms.audit.AuditEvent;
import io.imskms.audit.AuditLog;
import io.imskms.audit.AuditLogOptions;
import io.imskms.audit.AuditRecord;
import io.imskms.audit.CheckpointSigner;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * When the HSM cannot compute a pseudonym (here: the adapter was closed under the trail), a grant
 * is not recorded (AUDIT_UNAVAILABLE: nothing may be released) and a refusal is recorded without
 * its identities, never with them in clear; a cached identity still needs no HSM.
 */
class AuditTrailPseudonymFailureTest {
  private static final String ALICE = "sip:alice@ims.example.com";
  private static final String CAROL = "sip:carol@ims.example.com";

  @Test
  void hsmFailure_grantIsRefused_refusalIsRecordedWithoutIdentities() throws Exception {
    Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
        "pseudonym-failure-");
    Vertx vertx = Vertx.vertx();
    try (SoftHsmTestToken token = SoftHsmTestToken.create();
        AuditLog log = AuditLog.open(AuditLogOptions.defaults(dir, "test/audit", "n1"),
            new JdkSigner("test/audit"))) {
      Pkcs11Hsm hsm = token.open();
      var audit = ConfigLoader.load(null, java.util.Map.of()).audit();
      AuditPseudonyms.ensure(hsm, audit);
      AuditPseudonyms pseudonyms = AuditPseudonyms.open(hsm, audit);
      String alice = pseudonyms.pseudonym(ALICE);
      AuditTrail trail = new AuditTrail(log, pseudonyms,
          new ApiMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()));
      hsm.close(); // from here on, every HSM call fails

      // alice is cached: her refusal is recorded with her pseudonym, without the HSM.
      trail.append(vertx, List.of(AuditEvent.builder("bootstrap", AuditEvent.Outcome.REFUSED)
          .code("INTEGRITY").requestId("r-cached").caller(ALICE).build()))
          .toCompletionStage().toCompletableFuture().get();
      // carol is not: the refusal is recorded without identities.
      trail.append(vertx, List.of(AuditEvent.builder("bootstrap", AuditEvent.Outcome.REFUSED)
          .code("INTEGRITY").requestId("r-new").caller(CAROL).idBm(CAROL).build()))
          .toCompletionStage().toCompletableFuture().get();
      // A grant naming carol cannot be recorded: it fails, so nothing is released.
      Throwable grant = trail.append(vertx, List.of(AuditEvent.builder("bootstrap",
          AuditEvent.Outcome.OK).requestId("g-new").caller(CAROL).build()))
          .toCompletionStage().toCompletableFuture().handle((v, t) -> t).get();
      assertTrue(grant instanceof ApiFailure a && a.failure() == Failure.AUDIT_UNAVAILABLE,
          String.valueOf(grant));
      // The same grant handed over by the HSM worker that computed it (the server's path).
      Throwable fromWorker = trail.appendDurable(List.of(AuditEvent.builder("bootstrap",
          AuditEvent.Outcome.OK).requestId("g-worker").caller(CAROL).build()))
          .handle((v, t) -> t).get();
      assertTrue(fromWorker instanceof ApiFailure a
          && a.failure() == Failure.AUDIT_UNAVAILABLE, String.valueOf(fromWorker));

      List<AuditRecord> rs = AuditTrailHttpsTest.records(dir);
      AuditRecord cached = rs.stream().filter(r -> "r-cached".equals(r.event().requestId()))
          .findFirst().orElseThrow();
      assertEquals(alice, cached.event().caller());
      AuditRecord withheld = rs.stream().filter(r -> "r-new".equals(r.event().requestId()))
          .findFirst().orElseThrow();
      assertNull(withheld.event().caller());
      assertNull(withheld.event().idBm());
      assertEquals("INTEGRITY", withheld.event().code());
      assertTrue(withheld.event().detail().contains("identities withheld"),
          withheld.event().detail());
      assertFalse(rs.stream().anyMatch(r -> "g-new".equals(r.event().requestId())
          || "g-worker".equals(r.event().requestId())));
      assertFalse(String.join("\n", AuditTrailHttpsTest.lines(dir)).contains("carol@"));
    } finally {
      vertx.close().await();
    }
  }

  /** A checkpoint signer on the JDK's Ed25519 (this test is about identities, not signing). */
  private static final class JdkSigner implements CheckpointSigner {
    private final String name;
    private final KeyPair kp;

    JdkSigner(String name) throws Exception {
      this.name = name;
      this.kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public byte[] publicKey() {
      byte[] spki = kp.getPublic().getEncoded();
      return Arrays.copyOfRange(spki, spki.length - 32, spki.length);
    }

    @Override
    public byte[] sign(byte[] message) throws SigningException {
      try {
        Signature s = Signature.getInstance("Ed25519");
        s.initSign(kp.getPrivate());
        s.update(message);
        return s.sign();
      } catch (java.security.GeneralSecurityException e) {
        throw new SigningException(e.getMessage(), e);
      }
    }
  }
}
