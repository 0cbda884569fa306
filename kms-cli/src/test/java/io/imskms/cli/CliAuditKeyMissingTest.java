package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRing;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A token with the KMS's long-term keys but without the audit checkpoint key (provisioned by
 * hand, not by {@code kms token init}): a CLI step refuses before it acts (exit 3,
 * HSM_UNAVAILABLE), since it could not sign a checkpoint over its audit record.
 */
class CliAuditKeyMissingTest {
  @Test
  void aStep_withTheAuditCheckpointKeyMissing_isRefusedBeforeItActs() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      try (Pkcs11Hsm hsm = token.open()) {
        KeyRing.ensureProvisioned(hsm);
      }
      Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
          "cli-audit-key-");
      Path audit = work.resolve("audit");
      Map<String, String> env = new HashMap<>();
      env.put("SOFTHSM2_CONF", token.confFile().toString());
      env.put("KMS_HSM_MODULE", token.module().toString());
      env.put("KMS_HSM_TOKEN_LABEL", token.label());
      env.put("KMS_HSM_PIN", token.userPinForTest());
      env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
      env.put("KMS_AUDIT_DIR", audit.toString());

      CliRun rotate = CliRun.run(env, "keys", "rotate", "BTID_MAC");
      assertEquals(ExitCodes.HSM_UNAVAILABLE, rotate.exitCode(), rotate.toString());
      assertTrue(rotate.err().contains("audit checkpoint key")
          && rotate.err().contains("is not in the token")
          && rotate.err().contains("refusing to act without an audit record"), rotate.toString());
      try (Pkcs11Hsm hsm = token.open()) {
        KeyRing ring = KeyRing.load(hsm);
        assertEquals(1, ring.activeVersion(KeyPurpose.BTID_MAC), "no key rotated");
        assertEquals(KeyPurpose.values().length, ring.describe().size(), "no key generated");
      }
      assertFalse(Files.exists(audit.resolve("cli-" + CliAudit.host())),
          "no audit log opened");
    }
  }
}
