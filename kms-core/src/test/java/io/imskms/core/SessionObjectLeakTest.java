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
    long before = f.hsm.countSessionObjects();
    long createdBefore = f.hsm.status().objectsCreatedSinceInit();
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
    assertEquals(before, f.hsm.countSessionObjects());
    assertEquals(0, f.hsm.countSessionObjects());
    // 10 + 13 objects per pair of flows for Figure 17, 8 for Figure 18, plus the bootstraps.
    assertTrue(created >= flows * (10 + 8), "objects created: " + created);
  }
}
