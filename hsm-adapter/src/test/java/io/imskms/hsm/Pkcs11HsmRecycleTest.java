package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Recycling the module (SoftHSM2's leak) while requests run: none of them fails. */
class Pkcs11HsmRecycleTest {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP,
      KeyUsage.UNWRAP);
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);

  private static SoftHsmTestToken token;

  @BeforeAll
  static void createToken() {
    token = SoftHsmTestToken.create();
  }

  @AfterAll
  static void deleteToken() {
    token.close();
  }

  @Test
  void recycle_onDemandAndByObjectCount_doesNotFailRequestsInFlight() throws Exception {
    try (Pkcs11Hsm hsm = token.open(b -> b.poolSize(2).recycleAfterObjects(3000)
            .borrowTimeout(Duration.ofSeconds(5)))) {
      KeyRef root = hsm.generateLongTermKey("root", 1, ROOT).ref();
      long generationBefore = hsm.status().generation();
      AtomicBoolean stop = new AtomicBoolean();
      AtomicLong requests = new AtomicLong();
      ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
      List<Thread> workers = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        Thread w = new Thread(() -> {
          byte[] ctx = "k".getBytes(StandardCharsets.UTF_8);
          while (!stop.get()) {
            try (HsmSession s = hsm.openSession()) {
              // A multi-step request: its session keys must survive until it closes.
              KeyRef kek = s.deriveKey(root, "kek".getBytes(StandardCharsets.UTF_8), KEK);
              KeyRef k = s.deriveKey(root, ctx, GCM.wrappable());
              KeyRef back = s.unwrapKey(kek, s.wrapKey(kek, k, WrapMode.KW), WrapMode.KW, GCM);
              byte[] ct = s.encryptGcm(k, new byte[12], null, ctx);
              assertArrayEquals(ctx, s.decryptGcm(back, new byte[12], null, ct));
              requests.incrementAndGet();
            } catch (Throwable e) {
              failures.add(e);
            }
          }
        }, "worker-" + t);
        workers.add(w);
        w.start();
      }
      // The server refuses requests at once with HSM_UNAVAILABLE while status() says not
      // ready; a planned recycle must never say so (requests wait for it instead).
      AtomicLong statusReads = new AtomicLong();
      AtomicLong notReady = new AtomicLong();
      Thread watcher = new Thread(() -> {
        while (!stop.get()) {
          statusReads.incrementAndGet();
          if (!hsm.status().ready()) {
            notReady.incrementAndGet();
          }
          Thread.onSpinWait();
        }
      }, "status-watcher");
      watcher.start();
      for (int i = 0; i < 5; i++) {
        Thread.sleep(300);
        hsm.recycle();
      }
      Thread.sleep(500);
      stop.set(true);
      for (Thread w : workers) {
        w.join();
      }
      watcher.join();
      assertTrue(failures.isEmpty(), () -> failures.size() + " requests failed, first: "
          + failures.peek());
      assertTrue(statusReads.get() > 1000, "status read only " + statusReads.get() + " times");
      assertEquals(0, notReady.get(), () -> "status() said not ready " + notReady.get() + " of "
          + statusReads.get() + " times during planned recycles");
      HsmStatus status = hsm.status();
      assertTrue(requests.get() > 100, "only " + requests.get() + " requests ran");
      assertTrue(status.recycles() >= 5, "recycles: " + status.recycles());
      assertTrue(status.generation() >= generationBefore + 5);
      assertEquals(0, hsm.countSessionObjects());
      System.out.printf("recycle test: %d requests, %d recycles, generation %d%n",
          requests.get(), status.recycles(), status.generation());
    }
  }

  @Test
  void recycle_withASessionLeftOpen_isPostponed_andOtherRequestsKeepWorking() throws Exception {
    try (Pkcs11Hsm hsm = token.open(b -> b.poolSize(2).borrowTimeout(Duration.ofMillis(300)))) {
      KeyRef root = hsm.generateLongTermKey("root-postponed", 1, ROOT).ref();
      Thread holder = new Thread(() -> {
        try {
          HsmSession forgotten = hsm.openSession(); // never closed by this thread
          forgotten.random(8);
        } catch (HsmException e) {
          throw new IllegalStateException(e);
        }
      });
      holder.start();
      holder.join();
      HsmUnavailableException e = assertThrows(HsmUnavailableException.class, hsm::recycle);
      assertTrue(e.getMessage().contains("postponed"), e.getMessage());
      try (HsmSession s = hsm.openSession()) {
        s.deriveKey(root, "after".getBytes(StandardCharsets.UTF_8), GCM);
      }
      assertTrue(hsm.status().ready());
    }
  }
}
