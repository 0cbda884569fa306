package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.protocol.Role;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** 10,000 complete deferred deliveries leave no HSM session object behind. */
class SessionObjectLeakTest {
  private static KmsFixture f;

  @BeforeAll
  static void setUp() throws Exception {
    f = new KmsFixture();
  }

  @AfterAll
  static void tearDown() {
    f.close();
  }

  @Test
  void tenThousandFlows_leaveNoSessionObjects() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    long before = f.leftoverSessionObjects();
    long createdBefore = f.hsm.status().objectsCreatedSinceInit();
    int sharedBefore = f.hsm.status().sharedKeys();
    ClientSession sa = null;
    ClientSession sm = null;
    ClientSession sb = null;
    int flows = 10_000;
    for (int i = 0; i < flows; i++) {
      if (i % 500 == 0) {
        sa = f.bootstrap(alice);
        sm = f.bootstrap(vmBob);
        sb = f.bootstrap(bob);
      }
      boolean e2m = i % 2 == 1;
      UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
      MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), e2m);
      MailboxClient.Grant g = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes()));
      SecretBytes k = f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB).mediaKey();
      UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
      SecretBytes kb = f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()));
      assertTrue(k.equalContents(kb));
    }
    long created = f.hsm.status().objectsCreatedSinceInit() - createdBefore;
    assertEquals(before, f.leftoverSessionObjects());
    assertEquals(0, f.leftoverSessionObjects());
    // The shared keys left are the recovered Ks of the B-TIDs used, alice's (as Ka), vm.bob's and
    // bob's of each of the 20 rounds, and the request key of each, far below hsm.sharedKeys;
    // each made once.
    assertEquals(sharedBefore + 2 * 3 * (flows / 500), f.hsm.status().sharedKeys());
    // With both recoveries found: 4 + 7 objects per pair of flows for Figure 17, 5 for Figure 18,
    // plus the bootstraps and the first recovery of each B-TID.
    assertTrue(created >= flows * (5 + 5), "objects created: " + created);
  }

  /**
   * Refused requests leave nothing behind either: each fails at a different step, after some
   * session keys were made (bad proofs and MACs, tampered tickets and offers, replays, a wrong
   * mailbox), and every one of them must be refused.
   */
  @Test
  void failingFlows_leaveNoSessionObjects() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    Credential vmCarol = f.enrol(Role.MAILBOX, KmsFixture.VM_CAROL);
    ClientSession sa = f.bootstrap(alice);
    ClientSession sb = f.bootstrap(bob);
    ClientSession sm = f.bootstrap(vmBob);
    ClientSession smc = f.bootstrap(vmCarol);
    long before = f.leftoverSessionObjects();
    long createdBefore = f.hsm.status().objectsCreatedSinceInit();
    int refused = 0;
    int rounds = 200;
    for (int i = 0; i < rounds; i++) {
      // Bootstrap with a bad proof.
      byte[] boot = f.bootstrapping.start(alice).requestBytes();
      boot[boot.length - 1] ^= 1;
      refused += refused(() -> f.kms.bootstrap(boot));
      // Bootstrap replayed.
      byte[] boot2 = f.bootstrapping.start(bob).requestBytes();
      f.kms.bootstrap(boot2);
      refused += refused(() -> f.kms.bootstrap(boot2));
      // Figure 17: bad Em tag; tampered Ea (Em re-made over it, so Ea's own check fails);
      // wrong mailbox; a replay.
      UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
      byte[] badEm = f.mailbox.keyRequest(sm, o.offerBytes(), true).requestBytes();
      badEm[badEm.length - 1] ^= 1;
      refused += refused(() -> f.kms.mailboxKeyRequest(badEm));
      byte[] badOffer = o.offerBytes().clone();
      badOffer[badOffer.length - 1] ^= 1;
      byte[] badEa = f.mailbox.keyRequest(sm, badOffer, true).requestBytes();
      refused += refused(() -> f.kms.mailboxKeyRequest(badEa));
      byte[] wrongMailbox = f.mailbox.keyRequest(smc, o.offerBytes(), false).requestBytes();
      refused += refused(() -> f.kms.mailboxKeyRequest(wrongMailbox));
      MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), i % 2 == 0);
      MailboxClient.Grant g = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes()));
      refused += refused(() -> f.kms.mailboxKeyRequest(r.requestBytes()));
      // Figure 18: tampered ticket (header and blob), bad Eb tag, a replay.
      byte[] header = g.ticket().clone();
      header[10] ^= 1;
      byte[] blob = g.ticket().clone();
      blob[blob.length - 1] ^= 1;
      for (byte[] t : new byte[][] {header, blob}) {
        byte[] req = io.imskms.client.Forge.retrieval(sb, o.offerBytes(), t, ALICE, BOB,
            f.clock.millis());
        refused += refused(() -> f.kms.retrieveMediaKey(req));
      }
      byte[] badEb = f.ue.retrieval(sb, o.offerBytes(), g.ticket()).requestBytes();
      badEb[badEb.length - 1] ^= 1;
      refused += refused(() -> f.kms.retrieveMediaKey(badEb));
      byte[] ret = f.ue.retrieval(sb, o.offerBytes(), g.ticket()).requestBytes();
      f.kms.retrieveMediaKey(ret);
      refused += refused(() -> f.kms.retrieveMediaKey(ret));
    }
    assertEquals(rounds * 10, refused);
    assertTrue(f.hsm.status().objectsCreatedSinceInit() - createdBefore > rounds * 10L,
        "the refused requests made session keys before failing");
    assertEquals(before, f.leftoverSessionObjects());
    assertEquals(0, f.leftoverSessionObjects());
  }

  @FunctionalInterface
  private interface Call {
    void run() throws Exception;
  }

  private static int refused(Call c) throws Exception {
    try {
      c.run();
    } catch (KmsException e) {
      return 1;
    }
    throw new AssertionError("a request that must be refused was served");
  }
}
