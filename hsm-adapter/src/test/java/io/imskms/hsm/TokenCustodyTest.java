package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What an auditor sees with OpenSC's pkcs11-tool on a token set up by the project: every
 * long-term secret key is sensitive, always sensitive, never extractable and local.
 */
class TokenCustodyTest {

  @Test
  void pkcs11Tool_showsEveryLongTermKeyAsSensitiveNeverExtractableLocal() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      try (Pkcs11Hsm hsm = token.open()) {
        hsm.generateLongTermKey("kms-cred-root", 1, KeySpec.of(KeyAlgorithm.AES_256,
            KeyUsage.DERIVE));
        hsm.generateLongTermKey("kms-btid-mac", 1, KeySpec.of(KeyAlgorithm.HMAC_SHA256,
            KeyUsage.SIGN, KeyUsage.VERIFY));
      }
      String out = pkcs11Tool(token, "--list-objects", "--type", "secrkey");
      List<String> keys = blocks(out);
      assertEquals(2, keys.size(), out);
      for (String k : keys) {
        assertTrue(k.contains("Access:     sensitive, always sensitive, never extractable, local"),
            k);
        assertFalse(k.contains("Usage:      encrypt") && k.contains("#v"), k);
      }
      assertTrue(out.contains("kms-cred-root#v1") && out.contains("kms-btid-mac#v1"), out);
    }
  }

  private static List<String> blocks(String out) {
    List<String> keys = new ArrayList<>();
    StringBuilder cur = null;
    for (String line : out.split("\n")) {
      if (line.startsWith("Secret Key Object")) {
        if (cur != null) {
          keys.add(cur.toString());
        }
        cur = new StringBuilder();
      }
      if (cur != null) {
        cur.append(line).append('\n');
      }
    }
    if (cur != null) {
      keys.add(cur.toString());
    }
    return keys;
  }

  private static String pkcs11Tool(SoftHsmTestToken token, String... args)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("pkcs11-tool", "--module",
        token.module().toString(), "--token-label", token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN"));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", token.userPinForTest());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
