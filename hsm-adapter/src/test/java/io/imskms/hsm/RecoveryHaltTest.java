package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * When the token refuses the PIN during a recovery, the adapter stops trying (a real HSM locks
 * the PIN after a few wrong attempts) and stays unavailable with a clear reason.
 */
class RecoveryHaltTest {

  @Test
  void recovery_whenTheTokenRefusesThePin_haltsInsteadOfRetrying() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create();
        Pkcs11Hsm hsm = token.open(b -> b.recoveryInterval(Duration.ofMillis(50)))) {
      KeyRef root = hsm.generateLongTermKey("root", 1,
          KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE)).ref();
      try (HsmSession s = hsm.openSession()) {
        // Someone changes the user PIN behind the KMS's back.
        ((Pkcs11Session) s).rawSessionForBenchmark().setPIN(
            token.userPinForTest().toCharArray(), "another-pin-123".toCharArray());
      }
      Path away = token.tokenDir().resolveSibling(token.tokenDir().getFileName() + ".away");
      Files.move(token.tokenDir(), away);
      assertThrows(HsmException.class, () -> {
        for (int i = 0; i < 1000; i++) {
          try (HsmSession s = hsm.openSession()) {
            s.deriveKey(root, new byte[] {1}, KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE));
          }
        }
      });
      Files.move(away, token.tokenDir());
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < deadline
          && (hsm.status().lastError() == null || !hsm.status().lastError().contains("PIN"))) {
        try (HsmSession s = hsm.openSession()) {
          s.random(1);
        } catch (HsmUnavailableException expected) {
          Thread.sleep(50);
        }
      }
      HsmStatus status = hsm.status();
      assertFalse(status.ready());
      assertNotNull(status.lastError());
      assertTrue(status.lastError().contains("PIN"), status.lastError());
      long recoveries = status.recoveries();
      Thread.sleep(500); // ten recovery intervals: a retrying adapter would have tried again
      assertEquals(recoveries, hsm.status().recoveries());
      assertFalse(hsm.status().ready());
      HsmException e = assertThrows(HsmException.class, hsm::recycle);
      assertEquals(HsmException.Kind.MISCONFIGURATION, e.kind());
    }
  }
}
