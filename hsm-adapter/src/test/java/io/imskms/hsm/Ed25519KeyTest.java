package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.EdECPoint;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The audit checkpoint key: SoftHSM2 generates an Ed25519 key pair (CKM_EC_EDWARDS_KEY_PAIR_GEN)
 * whose private half is sensitive and never extractable, signs with CKM_EDDSA, and the JDK's own
 * Ed25519 (an independent implementation) verifies the signatures.
 */
class Ed25519KeyTest {
  private static SoftHsmTestToken token;
  private static Pkcs11Hsm hsm;

  @BeforeAll
  static void open() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
  }

  @AfterAll
  static void close() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  static PublicKey jdkKey(byte[] raw) throws Exception {
    byte[] be = new byte[32];
    for (int i = 0; i < 32; i++) {
      be[i] = raw[31 - i];
    }
    boolean xOdd = (be[0] & 0x80) != 0;
    be[0] &= 0x7f;
    return KeyFactory.getInstance("Ed25519").generatePublic(new EdECPublicKeySpec(
        NamedParameterSpec.ED25519, new EdECPoint(xOdd, new BigInteger(1, be))));
  }

  @Test
  void generatedKey_signsWithEddsa_andTheJdkVerifies() throws Exception {
    byte[] pub = hsm.generateEd25519Key("kms-audit-test-a");
    assertEquals(32, pub.length);
    assertArrayEquals(pub, hsm.ed25519PublicKey("kms-audit-test-a"));
    byte[] msg = "imskms.example/audit/node-1\n5\nAAAA\n".getBytes(StandardCharsets.UTF_8);
    byte[] sig = hsm.signEd25519("kms-audit-test-a", msg);
    assertEquals(64, sig.length);
    Signature v = Signature.getInstance("Ed25519");
    v.initVerify(jdkKey(pub));
    v.update(msg);
    assertTrue(v.verify(sig), "JDK Ed25519 must verify the HSM's signature");
    // Ed25519 is deterministic: the same message gives the same signature.
    assertArrayEquals(sig, hsm.signEd25519("kms-audit-test-a", msg));
    msg[0] ^= 1;
    v.initVerify(jdkKey(pub));
    v.update(msg);
    assertFalse(v.verify(sig), "a changed message must not verify");
  }

  @Test
  void secondKeyWithTheSameLabel_isRefused() throws Exception {
    hsm.generateEd25519Key("kms-audit-test-b");
    assertThrows(HsmPolicyException.class, () -> hsm.generateEd25519Key("kms-audit-test-b"));
  }

  @Test
  void missingKey_isKeyNotFound() {
    assertThrows(KeyNotFoundException.class, () -> hsm.ed25519PublicKey("kms-audit-none"));
    assertThrows(KeyNotFoundException.class,
        () -> hsm.signEd25519("kms-audit-none", new byte[] {1}));
  }

  @Test
  void pkcs11Tool_showsThePrivateKeySensitiveNeverExtractableLocal() throws Exception {
    hsm.generateEd25519Key("kms-audit-test-c");
    List<String> cmd = new ArrayList<>(List.of("pkcs11-tool", "--module",
        token.module().toString(), "--token-label", token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN", "--list-objects", "--type", "privkey"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", token.userPinForTest());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, p.exitValue(), out);
    int at = out.indexOf("kms-audit-test-c");
    assertTrue(at >= 0, out);
    String block = out.substring(Math.max(0, out.lastIndexOf("Private Key Object", at)));
    int end = block.indexOf("Private Key Object", 5);
    block = end > 0 ? block.substring(0, end) : block;
    assertTrue(block.contains("sensitive, always sensitive, never extractable, local"), block);
    assertTrue(block.contains("Usage:      sign") && !block.contains("decrypt"), block);
  }
}
