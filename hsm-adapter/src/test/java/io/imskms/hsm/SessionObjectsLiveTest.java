package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link HsmStatus#sessionObjectsLive()} on a real SoftHSM2 token: it follows every session
 * object the adapter creates and destroys (derive, unwrap, generate, the EC public half, the key
 * check value's intermediate key, and those left for {@code close()}), equals what the token
 * itself counts (C_FindObjects with CKA_TOKEN=false), and restarts at 0 in a new generation.
 */
class SessionObjectsLiveTest {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP,
      KeyUsage.UNWRAP);
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);
  private static final KeySpec MAC = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN,
      KeyUsage.VERIFY);

  private static SoftHsmTestToken token;

  @BeforeAll
  static void createToken() {
    token = SoftHsmTestToken.create();
  }

  @AfterAll
  static void deleteToken() {
    token.close();
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * One request's worth of work: derives, a wrap/unwrap, an EC pair and an ECDH derive; one key
   * destroyed explicitly, the rest left for close(). Returns the session objects it created.
   */
  private static int request(HsmSession s, KeyRef root, int i) throws HsmException {
    KeyRef kek = s.deriveKey(root, b("kek"), KEK);
    KeyRef k = s.deriveKey(root, b("k" + i), GCM.wrappable());
    KeyRef back = s.unwrapKey(kek, s.wrapKey(kek, k, WrapMode.KW), WrapMode.KW, GCM);
    byte[] ct = s.encryptGcm(back, new byte[12], null, b("x"));
    s.decryptGcm(k, new byte[12], null, ct);
    KeyRef mac = s.deriveKey(root, b("mac" + i), MAC);
    s.verify(mac, b("data"), s.sign(mac, b("data")));
    s.destroy(mac);
    EcKeyPair pair = s.generateEcKeyPair(); // public half: created and destroyed at once
    EcKeyPair peer = s.generateEcKeyPair();
    s.deriveEcdh(pair.privateKey(), peer.publicPoint(), KeySpec.of(KeyAlgorithm.AES_256,
        KeyUsage.DERIVE));
    return 4 + 2 + 2 + 1;
  }

  @Test
  void afterManyRequests_withEverySessionClosed_liveIsZero_asTheTokenCounts() throws Exception {
    try (Pkcs11Hsm hsm = token.open(b -> b.poolSize(2).borrowTimeout(Duration.ofSeconds(5)))) {
      KeyRef root = hsm.generateLongTermKey("live-many", 1, ROOT).ref(); // its KCV derives one too
      assertEquals(0, hsm.status().sessionObjectsLive());
      long createdBefore = hsm.status().objectsCreatedSinceInit();
      int perRequest = 0;
      for (int i = 0; i < 200; i++) {
        try (HsmSession s = hsm.openSession()) {
          perRequest = request(s, root, i);
        }
      }
      HsmStatus after = hsm.status();
      assertEquals(200L * perRequest, after.objectsCreatedSinceInit() - createdBefore);
      assertEquals(0, after.sessionObjectsLive());
      assertEquals(0, hsm.countSessionObjects());
    }
  }

  @Test
  void withASessionHoldingKDerivedKeys_liveIsK_thenZeroAfterClose() throws Exception {
    try (Pkcs11Hsm hsm = token.open(b -> b.poolSize(2).borrowTimeout(Duration.ofSeconds(5)))) {
      KeyRef root = hsm.generateLongTermKey("live-held", 1, ROOT).ref();
      int k = 7;
      try (HsmSession s = hsm.openSession()) {
        List<KeyRef> held = new ArrayList<>();
        for (int i = 0; i < k; i++) {
          held.add(s.deriveKey(root, b("held" + i), GCM));
        }
        assertEquals(k, hsm.status().sessionObjectsLive());
        assertEquals(k, hsm.countSessionObjects());
        s.destroy(held.get(0));
        assertEquals(k - 1, hsm.status().sessionObjectsLive());
        assertEquals(k - 1, hsm.countSessionObjects());
      }
      assertEquals(0, hsm.status().sessionObjectsLive());
      assertEquals(0, hsm.countSessionObjects());
    }
  }

  @Test
  void concurrentRequests_thenRecycle_liveIsZero_andRestartsInTheNewGeneration()
      throws Exception {
    try (Pkcs11Hsm hsm = token.open(b -> b.poolSize(2).borrowTimeout(Duration.ofSeconds(5)))) {
      KeyRef root = hsm.generateLongTermKey("live-recycle", 1, ROOT).ref();
      ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        Thread th = new Thread(() -> {
          for (int i = 0; i < 100; i++) {
            try (HsmSession s = hsm.openSession()) {
              request(s, root, i);
            } catch (Throwable e) {
              failures.add(e);
            }
          }
        });
        threads.add(th);
        th.start();
      }
      for (Thread th : threads) {
        th.join();
      }
      assertTrue(failures.isEmpty(), () -> "failed: " + failures.peek());
      assertEquals(0, hsm.status().sessionObjectsLive());
      assertEquals(0, hsm.countSessionObjects());

      long generation = hsm.status().generation();
      hsm.recycle(); // re-finds the keys and computes their KCVs: one derive + destroy each
      HsmStatus recycled = hsm.status();
      assertEquals(generation + 1, recycled.generation());
      assertEquals(0, recycled.sessionObjectsLive());
      try (HsmSession s = hsm.openSession()) {
        s.deriveKey(root, b("after recycle"), GCM);
        assertEquals(1, hsm.status().sessionObjectsLive());
      }
      assertEquals(0, hsm.status().sessionObjectsLive());
      assertEquals(0, hsm.countSessionObjects());
    }
  }
}
