package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.audit.HsmCheckpointSigner;
import io.imskms.audit.AuditEvent;
import io.imskms.audit.AuditLog;
import io.imskms.audit.AuditLogOptions;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * {@code kms token init} makes the audit key and prints its verifier key; {@code kms audit key}
 * prints the same one from the token; {@code kms audit verify} checks a log signed by that key
 * in the token, offline, and catches an edited record; proofs round-trip through {@code prove}
 * and {@code verify-proof}.
 */
class AuditCommandTest {

  @Test
  void tokenInitAndAuditKey_printTheVerifierKey_thatVerifiesTheLogOffline() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
          "audit-cli-");
      Path audit = work.resolve("audit");
      Map<String, String> env = new HashMap<>();
      env.put("SOFTHSM2_CONF", token.confFile().toString());
      env.put("KMS_HSM_MODULE", token.module().toString());
      env.put("KMS_HSM_TOKEN_LABEL", token.label());
      env.put("KMS_HSM_PIN", token.userPinForTest());
      env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
      env.put("KMS_AUDIT_DIR", audit.toString());

      CliRun init = CliRun.run(env, "token", "init");
      assertEquals(ExitCodes.OK, init.exitCode(), init.toString());
      String printed = init.out().lines().filter(l -> l.startsWith("audit verifier key: "))
          .findFirst().orElseThrow().substring("audit verifier key: ".length());
      CliRun key = CliRun.run(env, "audit", "key");
      assertEquals(ExitCodes.OK, key.exitCode(), key.toString());
      String vkey = key.out().strip();
      assertEquals(printed, vkey);
      assertTrue(vkey.startsWith("imskms.example/audit/node-1+"), vkey);
      assertEquals(ExitCodes.OK, CliRun.run(env, "token", "init").exitCode(), "idempotent");

      // A log signed by the key in the token, as the server writes it.
      try (Pkcs11Hsm hsm = Pkcs11Hsm.open(HsmConfig.builder().modulePath(token.module())
          .tokenLabel(token.label()).userPin(token.userPinForTest().toCharArray()).poolSize(1)
          .build())) {
        try (AuditLog log = AuditLog.open(AuditLogOptions.defaults(audit,
            "imskms.example/audit/node-1", "node-1"), new HsmCheckpointSigner(hsm,
            "imskms.example/audit/node-1", "kms-audit-ed25519-v1"))) {
          for (int i = 0; i < 5; i++) {
            log.append(AuditEvent.builder("bootstrap", AuditEvent.Outcome.OK)
                .requestId("req-" + i).build()).get();
          }
        }
      }
      CliRun ok = CliRun.run(Map.of(), "audit", "verify", "--key", vkey, audit.toString());
      assertEquals(0, ok.exitCode(), ok.toString());

      Path proof = work.resolve("proof.json");
      CliRun prove = CliRun.run(Map.of(), "audit", "prove", "--dir", audit.toString(),
          "--request-id", "req-3", "--out", proof.toString());
      assertEquals(0, prove.exitCode(), prove.toString());
      CliRun checked = CliRun.run(Map.of(), "audit", "verify-proof", "--key", vkey,
          proof.toString());
      assertEquals(0, checked.exitCode(), checked.toString());

      Path seg;
      try (Stream<Path> s = Files.list(audit)) {
        seg = s.filter(p -> p.toString().endsWith(".jsonl")).findFirst().orElseThrow();
      }
      List<String> lines = Files.readAllLines(seg, StandardCharsets.UTF_8);
      lines.set(2, lines.get(2).replace("req-2", "req-X"));
      Files.write(seg, lines, StandardCharsets.UTF_8);
      CliRun bad = CliRun.run(Map.of(), "audit", "verify", "--key", vkey, audit.toString());
      assertEquals(1, bad.exitCode(), bad.toString());
      assertTrue(bad.out().contains("EDITED"), bad.toString());
    }
  }
}
