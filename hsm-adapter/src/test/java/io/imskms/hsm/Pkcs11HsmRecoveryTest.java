package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The token is pulled out from under a running adapter (its directory moved away) and put back:
 * operations fail as "HSM unavailable" meanwhile, then succeed again in the same JVM.
 */
class Pkcs11HsmRecoveryTest {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);

  private SoftHsmTestToken token;
  private Pkcs11Hsm hsm;

  @AfterEach
  void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  /** One request's worth of work with the long-term key; returns the ciphertext. */
  private byte[] work(KeyRef root) throws HsmException {
    try (HsmSession s = hsm.openSession()) {
      KeyRef k = s.deriveKey(root, "ctx".getBytes(StandardCharsets.UTF_8), GCM);
      return s.encryptGcm(k, new byte[12], null, "x".getBytes(StandardCharsets.UTF_8));
    }
  }

  @Test
  void tokenPulledOut_failsAsUnavailable_andRecoversWhenPutBack() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open(b -> b.recoveryInterval(Duration.ofMillis(100)));
    LongTermKeyInfo info = hsm.generateLongTermKey("root", 1, ROOT);
    byte[] before = work(info.ref());
    long generationBefore = hsm.status().generation();

    Path moved = token.tokenDir().resolveSibling(token.tokenDir().getFileName() + ".away");
    Files.move(token.tokenDir(), moved);
    List<HsmException.Kind> kinds = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    boolean failed = false;
    while (!failed && System.nanoTime() < deadline) {
      try {
        work(info.ref());
      } catch (HsmException e) {
        kinds.add(e.kind());
        failed = true;
      }
    }
    assertTrue(failed, "operations kept succeeding with the token gone");
    // Keep trying for a while with the token still gone: every answer must be "unavailable".
    for (int i = 0; i < 20; i++) {
      try {
        work(info.ref());
        fail("an operation succeeded while the token was gone");
      } catch (HsmException e) {
        kinds.add(e.kind());
      }
      Thread.sleep(20);
    }
    assertTrue(kinds.stream().allMatch(k -> k == HsmException.Kind.UNAVAILABLE), kinds.toString());
    assertFalse(hsm.status().ready());

    Files.move(moved, token.tokenDir());
    byte[] after = null;
    deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (after == null && System.nanoTime() < deadline) {
      try {
        after = work(info.ref());
      } catch (HsmUnavailableException e) {
        Thread.sleep(50);
      }
    }
    assertNotNull(after, "the adapter did not recover after the token came back");
    assertArrayEquals(before, after, "the same key must be in use after recovery");
    HsmStatus status = hsm.status();
    assertTrue(status.ready());
    assertTrue(status.recoveries() >= 1);
    assertTrue(status.generation() > generationBefore);
    assertEquals(info.kcv(), hsm.listLongTermKeys().get(0).kcv());
  }
}
