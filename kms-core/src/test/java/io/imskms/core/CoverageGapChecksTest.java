package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.CAROL;
import static io.imskms.core.KmsFixture.VM_BOB;
import static io.imskms.core.KmsFixture.VM_CAROL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.imskms.client.ClientSession;
import io.imskms.client.Forge;
import io.imskms.client.MailboxClient;
import io.imskms.client.UeClient;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Checks of Figures 17 and 18 that no other test reached (JaCoCo, docs/assurance.md): an offer
 * whose UE-A B-TID is a mailbox's, and a genuine ticket presented with an offer of another sender
 * or for another recipient. Real SoftHSM2 token, the client SDK as every peer.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CoverageGapChecksTest {
  private KmsFixture f;
  private ClientSession sa;
  private ClientSession sb;
  private ClientSession sc;
  private ClientSession sm;
  private ClientSession smc;

  /** A real SoftHSM2 token; {@link CoverageGapChecksOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
    sa = f.bootstrap(f.enrol(Role.UE, ALICE));
    sb = f.bootstrap(f.enrol(Role.UE, BOB));
    sc = f.bootstrap(f.enrol(Role.UE, CAROL));
    sm = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    smc = f.bootstrap(f.enrol(Role.MAILBOX, VM_CAROL));
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  private static ErrorCode code(Runnable0 call) {
    return assertThrows(KmsException.class, call::run).code();
  }

  @FunctionalInterface
  interface Runnable0 {
    void run() throws Exception;
  }

  /** Figure 17 step 5, check 9: UE-A's B-TID must be a UE's (here the mailbox poses as UE-A). */
  @Test
  void offer_sealedWithAMailboxBtidAsUeA_isIdentityMismatch() throws Exception {
    byte[] offer = Forge.offer(sm, VM_BOB, BOB, VM_BOB, BOB, f.clock.millis());
    byte[] req = f.mailbox.keyRequest(sm, offer, false).requestBytes();
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.mailboxKeyRequest(req)));
  }

  /**
   * Figure 18 step 5, check 8: a genuine ticket for alice's message to bob, presented by bob with
   * carol's offer to bob (Eb sealed over exactly these): the ticket's ID-A is not the offer's.
   */
  @Test
  void retrieval_withGenuineTicketAndAnotherSendersOffer_isIdentityMismatch() throws Exception {
    UeClient.OutgoingOffer fromAlice = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, fromAlice.offerBytes(), false);
    byte[] ticket = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes())).ticket();
    byte[] fromCarol = f.ue.offer(sc, BOB).offerBytes();
    byte[] req = Forge.retrieval(sb, fromCarol, ticket, CAROL, BOB, f.clock.millis());
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.retrieveMediaKey(req)));
  }

  /**
   * Figure 18 step 5, check 8, the other identity: bob presents the genuine ticket of alice's
   * message to carol with alice's offer to bob: the ticket's ID-B is not the offer's.
   */
  @Test
  void retrieval_withAnotherRecipientsTicket_isIdentityMismatch() throws Exception {
    UeClient.OutgoingOffer toCarol = f.ue.offer(sa, CAROL);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(smc, toCarol.offerBytes(), false);
    byte[] carolsTicket =
        f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes())).ticket();
    byte[] toBob = f.ue.offer(sa, BOB).offerBytes();
    byte[] req = Forge.retrieval(sb, toBob, carolsTicket, ALICE, BOB, f.clock.millis());
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.retrieveMediaKey(req)));
  }
}
