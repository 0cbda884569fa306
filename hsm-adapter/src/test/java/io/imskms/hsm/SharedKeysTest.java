package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Shared session keys ({@link HsmSession#deriveShared}, {@link HsmSession#findShared}) on a real
 * SoftHSM2 token: a key shared by one session is the same key, usable from another session on
 * another thread after the first closed; the cache is bounded (least recently used evicted and
 * destroyed, never while a session uses it), forgets expired keys, dies with the generation, and
 * what it holds is exactly what the token counts.
 */
class SharedKeysTest {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);
  private static final long FAR = System.currentTimeMillis() + 3_600_000;
  private static final byte[] IV = new byte[12];

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

  private static Pkcs11Hsm open(int sharedKeys) throws HsmException {
    return open(b -> b.sharedKeys(sharedKeys));
  }

  private static Pkcs11Hsm open(UnaryOperator<HsmConfig.Builder> more) throws HsmException {
    return token.open(b -> more.apply(b.poolSize(4).borrowTimeout(Duration.ofSeconds(5))));
  }

  private static <T> T onAnotherThread(java.util.concurrent.Callable<T> work) throws Exception {
    ExecutorService ex = Executors.newSingleThreadExecutor();
    try {
      return ex.submit(work).get(30, TimeUnit.SECONDS);
    } finally {
      ex.shutdownNow();
    }
  }

  private static void assertObjects(Pkcs11Hsm hsm, int expected) throws HsmException {
    assertEquals(expected, hsm.countSessionObjects(), "session objects in the token");
    assertEquals(expected, hsm.status().sessionObjectsLive(), "the adapter's live count");
  }

  @Test
  void sharedKey_isFoundByAnotherSessionOnAnotherThread_andIsTheDerivedKey() throws Exception {
    try (Pkcs11Hsm hsm = open(16)) {
      KeyRef root = hsm.generateLongTermKey("shared-same", 1, ROOT).ref();
      byte[] ct;
      try (HsmSession s = hsm.openSession()) {
        KeyRef k = s.deriveShared(root, b("ctx"), GCM, b("n1"), FAR);
        ct = s.encryptGcm(k, IV, null, b("hello"));
      }
      assertObjects(hsm, 1); // outlived the session that made it
      assertEquals(1, hsm.status().sharedKeys());
      byte[] back = onAnotherThread(() -> {
        try (HsmSession s = hsm.openSession()) {
          KeyRef k = s.findShared(b("n1"));
          assertNotNull(k);
          assertNull(s.findShared(b("n2")));
          // The same value as an ordinary derivation with the same base and context.
          KeyRef plain = s.deriveKey(root, b("ctx"), GCM);
          assertArrayEquals(b("hello"), s.decryptGcm(plain, IV, null, ct));
          return s.decryptGcm(k, IV, null, s.encryptGcm(plain, IV, null, b("again")));
        }
      });
      assertArrayEquals(b("again"), back);
      assertObjects(hsm, 1);
    }
  }

  @Test
  void sharedReference_isUsableOnlyInTheSessionHoldingIt_andDestroyOnlyReleasesIt()
      throws Exception {
    try (Pkcs11Hsm hsm = open(16)) {
      KeyRef root = hsm.generateLongTermKey("shared-owner", 1, ROOT).ref();
      try (HsmSession a = hsm.openSession()) {
        KeyRef k = a.deriveShared(root, b("ctx"), GCM, b("n"), FAR);
        onAnotherThread(() -> {
          try (HsmSession other = hsm.openSession()) {
            HsmPolicyException e = assertThrows(HsmPolicyException.class,
                () -> other.encryptGcm(k, IV, null, b("x")));
            assertTrue(e.getMessage().contains("stale"), e.getMessage());
          }
          return null;
        });
        a.destroy(k); // released, not destroyed
        assertThrows(HsmPolicyException.class, () -> a.encryptGcm(k, IV, null, b("x")));
        assertObjects(hsm, 1);
        KeyRef again = a.findShared(b("n"));
        assertNotNull(again);
        a.encryptGcm(again, IV, null, b("x"));
      }
      assertObjects(hsm, 1);
    }
  }

  @Test
  void beyondCapacity_theLeastRecentlyUsedIsEvictedAndDestroyed() throws Exception {
    try (Pkcs11Hsm hsm = open(3)) {
      KeyRef root = hsm.generateLongTermKey("shared-lru", 1, ROOT).ref();
      try (HsmSession s = hsm.openSession()) {
        for (String n : List.of("n1", "n2", "n3")) {
          s.deriveShared(root, b(n), GCM, b(n), FAR);
        }
      }
      try (HsmSession s = hsm.openSession()) {
        assertNotNull(s.findShared(b("n1"))); // now n2 is the least recently used
      }
      try (HsmSession s = hsm.openSession()) {
        s.deriveShared(root, b("n4"), GCM, b("n4"), FAR);
      }
      assertObjects(hsm, 3);
      try (HsmSession s = hsm.openSession()) {
        assertNull(s.findShared(b("n2")));
        for (String n : List.of("n1", "n3", "n4")) {
          assertNotNull(s.findShared(b(n)), n);
        }
      }
      assertEquals(3, hsm.status().sharedKeys());
    }
  }

  @Test
  void aKeyEvictedWhileInUse_staysUsable_andIsDestroyedAtItsRelease() throws Exception {
    try (Pkcs11Hsm hsm = open(1)) {
      KeyRef root = hsm.generateLongTermKey("shared-inuse", 1, ROOT).ref();
      try (HsmSession a = hsm.openSession()) {
        KeyRef k1 = a.deriveShared(root, b("n1"), GCM, b("n1"), FAR);
        onAnotherThread(() -> {
          try (HsmSession other = hsm.openSession()) {
            other.deriveShared(root, b("n2"), GCM, b("n2"), FAR); // evicts n1
          }
          return null;
        });
        assertNull(a.findShared(b("n1")));
        assertObjects(hsm, 2); // n1 still exists: a uses it
        byte[] ct = a.encryptGcm(k1, IV, null, b("still here"));
        assertArrayEquals(b("still here"), a.decryptGcm(k1, IV, null, ct));
      }
      assertObjects(hsm, 1);
    }
  }

  @Test
  void twoSessionsMissingTogether_bothGetAKey_andOneStays() throws Exception {
    try (Pkcs11Hsm hsm = open(16)) {
      KeyRef root = hsm.generateLongTermKey("shared-race", 1, ROOT).ref();
      try (HsmSession a = hsm.openSession()) {
        KeyRef ka = a.deriveShared(root, b("ctx"), GCM, b("n"), FAR);
        byte[] ct = onAnotherThread(() -> {
          try (HsmSession other = hsm.openSession()) {
            KeyRef kb = other.deriveShared(root, b("ctx"), GCM, b("n"), FAR);
            return other.encryptGcm(kb, IV, null, b("x"));
          }
        });
        assertArrayEquals(b("x"), a.decryptGcm(ka, IV, null, ct));
      }
      assertObjects(hsm, 1);
      assertEquals(1, hsm.status().sharedKeys());
    }
  }

  @Test
  void anExpiredKey_isNotFound_andIsDestroyed() throws Exception {
    try (Pkcs11Hsm hsm = open(16)) {
      KeyRef root = hsm.generateLongTermKey("shared-expiry", 1, ROOT).ref();
      try (HsmSession s = hsm.openSession()) {
        s.deriveShared(root, b("ctx"), GCM, b("old"), System.currentTimeMillis() - 1);
      }
      assertObjects(hsm, 1);
      try (HsmSession s = hsm.openSession()) {
        assertNull(s.findShared(b("old")));
      }
      assertObjects(hsm, 0);
      assertEquals(0, hsm.status().sharedKeys());
    }
  }

  @Test
  void aRecycle_forgetsEveryKey() throws Exception {
    try (Pkcs11Hsm hsm = open(16)) {
      KeyRef root = hsm.generateLongTermKey("shared-recycle", 1, ROOT).ref();
      try (HsmSession s = hsm.openSession()) {
        s.deriveShared(root, b("ctx"), GCM, b("n"), FAR);
      }
      hsm.recycle();
      assertEquals(0, hsm.status().sharedKeys());
      try (HsmSession s = hsm.openSession()) {
        assertNull(s.findShared(b("n")));
        KeyRef k = s.deriveShared(root, b("ctx"), GCM, b("n"), FAR);
        s.encryptGcm(k, IV, null, b("x"));
      }
      assertObjects(hsm, 1);
    }
  }

  @Test
  void turnedOff_deriveSharedIsAnOrdinaryDerive_andNothingIsFound() throws Exception {
    try (Pkcs11Hsm hsm = open(0)) {
      KeyRef root = hsm.generateLongTermKey("shared-off", 1, ROOT).ref();
      try (HsmSession s = hsm.openSession()) {
        KeyRef k = s.deriveShared(root, b("ctx"), GCM, b("n"), FAR);
        s.encryptGcm(k, IV, null, b("x"));
        assertNull(s.findShared(b("n")));
      }
      assertObjects(hsm, 0);
      assertEquals(0, hsm.status().sharedKeys());
      assertThrows(IllegalArgumentException.class,
          () -> HsmConfig.builder().userPin(new char[] {'1'}).sharedKeys(-1).build());
    }
  }

  /**
   * Four threads find or derive keys of eight names in a cache of four, use them, sometimes
   * release them early: every operation succeeds, every key found decrypts what its name's
   * ordinary derivation encrypted, and at the end the token holds exactly the cached keys.
   */
  @Test
  void concurrentFindOrDerive_underEviction_holdsExactlyTheCachedKeys() throws Exception {
    try (Pkcs11Hsm hsm = open(4)) {
      KeyRef root = hsm.generateLongTermKey("shared-stress", 1, ROOT).ref();
      AtomicLong hits = new AtomicLong();
      ExecutorService ex = Executors.newFixedThreadPool(4);
      try {
        List<Future<Void>> all = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
          all.add(ex.submit(() -> {
            for (int i = 0; i < 400; i++) {
              String n = "n" + ThreadLocalRandom.current().nextInt(8);
              try (HsmSession s = hsm.openSession()) {
                KeyRef k = s.findShared(b(n));
                if (k != null) {
                  hits.incrementAndGet();
                } else {
                  k = s.deriveShared(root, b(n), GCM, b(n), FAR);
                }
                byte[] ct = s.encryptGcm(s.deriveKey(root, b(n), GCM), IV, null, b(n));
                assertArrayEquals(b(n), s.decryptGcm(k, IV, null, ct));
                if (i % 3 == 0) {
                  s.destroy(k);
                }
              }
            }
            return null;
          }));
        }
        for (Future<Void> f : all) {
          f.get(120, TimeUnit.SECONDS);
        }
      } finally {
        ex.shutdownNow();
      }
      assertTrue(hits.get() > 0, "some lookups hit");
      assertEquals(4, hsm.status().sharedKeys());
      assertObjects(hsm, 4);
    }
  }
}
