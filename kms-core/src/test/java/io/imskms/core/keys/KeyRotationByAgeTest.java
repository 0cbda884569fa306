package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Automatic rotation by age on a real SoftHSM2 token: not before the active version reaches its
 * maximum age, then exactly one staged rotation even when several rings (several runs of
 * {@code kms keys rotate --due}) find it due at the same moment, and the next due date follows
 * the new version's activation.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KeyRotationByAgeTest {
  private static final KeyPurpose P = KeyPurpose.MEDIA_ROOT;
  private static final Duration STAGING = Duration.ofSeconds(3);
  private static SoftHsmTestToken token;
  private static Pkcs11Hsm hsm;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
    KeyRing.ensureProvisioned(hsm);
  }

  @AfterAll
  static void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  @Test
  @Order(1)
  void notDue_beforeTheMaximumAge_andTheDueDateIsCreationPlusMaxAge() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    Instant created = ring.describe().stream().filter(k -> k.purpose() == P)
        .findFirst().orElseThrow().created().orElseThrow();
    assertEquals(Optional.of(created.plus(Duration.ofDays(90))),
        ring.nextRotationDue(P, Duration.ofDays(90)));
    assertTrue(ring.rotateIfDue(P, Duration.ofDays(90), STAGING).isEmpty());
    assertEquals(1, KeyRing.load(hsm).activeVersion(P));
  }

  @Test
  @Order(2)
  void due_severalRunsAtOnce_stageExactlyOneRotation() throws Exception {
    Thread.sleep(1100); // the active version is now older than one second
    int runs = 4;
    ExecutorService pool = Executors.newFixedThreadPool(runs);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Optional<KeyVersionInfo>>> results = new ArrayList<>();
    for (int i = 0; i < runs; i++) {
      KeyRing ring = KeyRing.load(hsm); // each run its own ring, as separate CLI runs
      Callable<Optional<KeyVersionInfo>> run = () -> {
        go.await();
        return ring.rotateIfDue(P, Duration.ofSeconds(1), STAGING);
      };
      results.add(pool.submit(run));
    }
    go.countDown();
    int rotated = 0;
    for (Future<Optional<KeyVersionInfo>> f : results) {
      if (f.get().isPresent()) {
        rotated++;
        assertEquals(2, f.get().get().version());
        assertEquals(KeyState.DECRYPT_ONLY, f.get().get().state());
      }
    }
    pool.shutdown();
    assertEquals(1, rotated, "exactly one run rotates");
    KeyRing after = KeyRing.load(hsm);
    assertEquals(2, after.describe().stream().filter(k -> k.purpose() == P).count());
    // Still staged: not due again.
    assertTrue(after.rotateIfDue(P, Duration.ofSeconds(1), STAGING).isEmpty());
  }

  @Test
  @Order(3)
  void afterActivation_theNextDueDateFollowsTheNewVersion() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    Instant activation = ring.describe().stream()
        .filter(k -> k.purpose() == P && k.version() == 2).findFirst().orElseThrow()
        .activated().orElseThrow();
    assertEquals(Optional.of(activation.plus(Duration.ofDays(30))),
        ring.nextRotationDue(P, Duration.ofDays(30)));
    long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (ring.activeVersion(P) != 2 && System.nanoTime() < until) {
      Thread.sleep(200);
      ring.refresh();
    }
    assertEquals(2, ring.activeVersion(P));
    assertEquals(Optional.of(activation.plus(Duration.ofDays(30))),
        ring.nextRotationDue(P, Duration.ofDays(30)));
    assertTrue(ring.rotateIfDue(P, Duration.ofDays(30), STAGING).isEmpty());
  }
}
