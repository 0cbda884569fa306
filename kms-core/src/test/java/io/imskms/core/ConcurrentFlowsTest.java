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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The service is stateless and thread-safe: flows on several threads share one KMS instance. */
class ConcurrentFlowsTest {
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
  void flowsOnFourThreads_allSucceed_andLeaveNoSessionObjects() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        results.add(pool.submit(() -> {
          ClientSession sa = f.bootstrap(alice);
          ClientSession sm = f.bootstrap(vmBob);
          ClientSession sb = f.bootstrap(bob);
          int ok = 0;
          for (int i = 0; i < 150; i++) {
            UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
            MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), i % 2 == 0);
            MailboxClient.Grant g = f.mailbox.openResponse(r,
                f.kms.mailboxKeyRequest(r.requestBytes()));
            SecretBytes k = f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB).mediaKey();
            UeClient.PendingRetrieval p = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
            if (k.equalContents(f.ue.openRetrieval(p, f.kms.retrieveMediaKey(p.requestBytes())))) {
              ok++;
            }
          }
          return ok;
        }));
      }
      for (Future<Integer> r : results) {
        assertEquals(150, r.get());
      }
    } finally {
      pool.shutdown();
    }
    assertEquals(0, f.leftoverSessionObjects());
    assertTrue(f.hsm.status().sessionsInUse() == 0);
  }
}
