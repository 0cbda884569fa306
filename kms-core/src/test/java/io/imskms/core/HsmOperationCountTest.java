package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.protocol.Role;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Pins the HSM operations and session objects per request listed in docs/protocol.md section 12:
 * one HSM session per request, and exactly these operations.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HsmOperationCountTest {
  private KmsFixture f;
  private CountingHsm counting;
  private DeferredDeliveryService kms;
  private EcdhEnrolment enrolment;

  /** A real SoftHSM2 token; {@link HsmOperationCountOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  /** Whether the fixture's HSM keeps shared keys (the adapter does; the software HSM does not). */
  boolean sharesKeys() {
    return true;
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
    counting = new CountingHsm(f.hsm);
    kms = new DeferredDeliveryService(counting, f.keys, new KmsBootstrapper(f.keys, f.replay,
        f.directory, f.clock, DeferredDeliveryOptions.DEFAULTS.btidLifetime(),
        ServerRandom.HSM), f.directory, f.replay, f.clock, DeferredDeliveryOptions.DEFAULTS);
    enrolment = new EcdhEnrolment(counting, f.keys, f.directory);
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  private interface Call {
    byte[] run() throws Exception;
  }

  private record Measured(byte[] result, Map<String, Integer> ops, int total, long objects,
      int sharedHits) {}

  private Measured measure(Call c) throws Exception {
    // Warm the long-term key cache so that only per-request work is counted.
    counting.reset();
    long before = f.hsm.status().objectsCreatedSinceInit();
    byte[] r = c.run();
    long objects = f.hsm.status().objectsCreatedSinceInit() - before;
    assertEquals(1, counting.sessions, "one HSM session per request");
    assertEquals(f.hsm.status().sharedKeys(), f.hsm.countSessionObjects(),
        "every session object destroyed but the shared keys (Ks by B-TID)");
    return new Measured(r, Map.copyOf(counting.ops), counting.total(), objects,
        counting.sharedHits);
  }

  @Test
  void operationsPerRequest_areThoseOfProtocolMdSection12() throws Exception {
    DeviceEnrolment da = new DeviceEnrolment(Role.UE, ALICE);
    Measured enrol = measure(() -> enrolment.enrol(da.requestBytes()));
    assertEquals(Map.of("derive", 2, "generateEcKeyPair", 1, "deriveEcdh", 1, "wrap", 1),
        enrol.ops());
    Credential alice = da.open(enrol.result());
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    f.bootstrap(alice); // first use of each long-term key: found once, then cached

    Bootstrapping.Pending p = f.bootstrapping.start(alice);
    Measured boot = measure(() -> kms.bootstrap(p.requestBytes()));
    assertEquals(Map.of("derive", 2, "verify", 1, "random", 1, "sign", 2), boot.ops());
    assertEquals(2, boot.objects());
    ClientSession sa = f.bootstrapping.finish(p, boot.result());
    ClientSession sm = f.bootstrap(vmBob);
    ClientSession sb = f.bootstrap(bob);
    assertEquals(0, boot.sharedHits()); // a bootstrap recovers nothing

    // Each B-TID's first recovery is a miss: the counts of section 12.
    for (boolean e2m : new boolean[] {false, true}) {
      if (e2m) {
        sa = f.bootstrap(alice); // fresh B-TIDs: misses again
        sm = f.bootstrap(vmBob);
        sb = f.bootstrap(bob);
      }
      UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
      MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), e2m);
      Measured fig17 = measure(() -> kms.mailboxKeyRequest(r.requestBytes()));
      assertEquals(0, fig17.sharedHits());
      if (!e2m) {
        assertEquals(Map.of("verify", 2, "derive", 10, "destroy", 2, "decrypt", 2, "wrap", 2,
            "sign", 1), fig17.ops());
        assertEquals(19, fig17.total());
        assertEquals(10, fig17.objects());
      } else {
        assertEquals(Map.of("verify", 2, "derive", 12, "destroy", 2, "decrypt", 2, "wrap", 4,
            "sign", 1, "generateKey", 1), fig17.ops());
        assertEquals(24, fig17.total());
        assertEquals(13, fig17.objects());
      }
      MailboxClient.Grant g = f.mailbox.openResponse(r, fig17.result());
      UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
      Measured fig18 = measure(() -> kms.retrieveMediaKey(pr.requestBytes()));
      assertEquals(0, fig18.sharedHits());
      assertEquals(Map.of("verify", 1, "derive", 7, "destroy", 1, "decrypt", 2, "unwrap", 1,
          "wrap", 1), fig18.ops());
      assertEquals(13, fig18.total());
      assertEquals(8, fig18.objects());
    }

    // The same B-TIDs again: with shared keys each recovery is found, not recomputed (no
    // C_Verify, no two derives, no destroy of Kp), and so is the request key derived from each
    // recovered key (no derive); without, the counts above.
    boolean hit = sharesKeys();
    for (boolean e2m : new boolean[] {false, true}) {
      UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
      MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), e2m);
      Measured fig17 = measure(() -> kms.mailboxKeyRequest(r.requestBytes()));
      assertEquals(hit ? 4 : 0, fig17.sharedHits()); // Km, Ka and their request keys
      if (!hit) {
        assertEquals(e2m ? 24 : 19, fig17.total());
      } else if (!e2m) {
        assertEquals(Map.of("derive", 4, "decrypt", 2, "wrap", 2, "sign", 1), fig17.ops());
        assertEquals(9, fig17.total());
        assertEquals(4, fig17.objects());
      } else {
        assertEquals(Map.of("derive", 6, "decrypt", 2, "wrap", 4, "sign", 1, "generateKey", 1),
            fig17.ops());
        assertEquals(14, fig17.total());
        assertEquals(7, fig17.objects());
      }
      MailboxClient.Grant g = f.mailbox.openResponse(r, fig17.result());
      UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
      Measured fig18 = measure(() -> kms.retrieveMediaKey(pr.requestBytes()));
      assertEquals(hit ? 2 : 0, fig18.sharedHits()); // Kb and its request key
      if (hit) {
        assertEquals(Map.of("derive", 4, "decrypt", 2, "unwrap", 1, "wrap", 1), fig18.ops());
        assertEquals(8, fig18.total());
        assertEquals(5, fig18.objects());
      } else {
        assertEquals(13, fig18.total());
      }
    }
    System.out.println("enrolment objects: " + enrol.objects());
  }
}
