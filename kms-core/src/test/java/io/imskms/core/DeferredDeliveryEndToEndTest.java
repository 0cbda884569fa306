package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.InsecureSecretAccess;
import io.imskms.client.MailboxClient;
import io.imskms.client.MediaProtection;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.client.UploadProtection;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import java.io.ByteArrayOutputStream;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Figures 17, 18 and 19 end to end against SoftHSM2, with the client SDK as every peer. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeferredDeliveryEndToEndTest {
  private static final InsecureSecretAccess ACCESS = InsecureSecretAccess.get();
  private KmsFixture f;
  private Credential alice;
  private Credential bob;
  private Credential vmBob;

  /** A real SoftHSM2 token; {@link DeferredDeliveryEndToEndOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
    alice = f.enrol(Role.UE, ALICE);
    bob = f.enrol(Role.UE, BOB);
    vmBob = f.enrol(Role.MAILBOX, VM_BOB);
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  /** Everything one deferred delivery produces, and everything the mailbox sees. */
  static final class Run {
    final List<byte[]> mailboxView = new ArrayList<>();
    SecretBytes kAtA;
    SecretBytes kAtB;
    SecretBytes e2mAtA;
    SecretBytes e2mAtM;
    byte[] media;
    byte[] mediaAtB;
    byte[] ticket;
  }

  static Run deliver(KmsFixture f, Credential a, Credential b, Credential m, boolean e2m)
      throws Exception {
    Run run = new Run();
    ClientSession sa = f.bootstrap(a);
    // The mailbox's own bootstrap exchange is part of what it sees.
    io.imskms.client.Bootstrapping.Pending pm = f.bootstrapping.start(m);
    byte[] pmResp = f.kms.bootstrap(pm.requestBytes());
    run.mailboxView.add(pm.requestBytes());
    run.mailboxView.add(pmResp);
    ClientSession sm = f.bootstrapping.finish(pm, pmResp);

    // Fig 17 steps 2a/2b/3: UE-A's INVITE reaches the mailbox.
    UeClient.OutgoingOffer offer = f.ue.offer(sa, b.id());
    run.mailboxView.add(offer.offerBytes());
    // Steps 4-6.
    MailboxClient.PendingKeyRequest req = f.mailbox.keyRequest(sm, offer.offerBytes(), e2m);
    run.mailboxView.add(req.requestBytes());
    byte[] resp = f.kms.mailboxKeyRequest(req.requestBytes());
    run.mailboxView.add(resp);
    MailboxClient.Grant grant = f.mailbox.openResponse(req, resp);
    run.mailboxView.add(grant.deliveryForUeA());
    run.mailboxView.add(grant.ticket());
    run.ticket = grant.ticket();
    // Steps 7-8.
    UeClient.DeliveredKeys keys = f.ue.openDelivery(offer, grant.deliveryForUeA(), m.id());
    run.kAtA = keys.mediaKey();
    assertEquals(e2m, keys.e2mKey().isPresent());
    assertEquals(e2m, grant.e2mKey().isPresent());
    if (e2m) {
      run.e2mAtA = keys.e2mKey().get();
      run.e2mAtM = grant.e2mKey().get();
      run.mailboxView.add(run.e2mAtM.toByteArray(ACCESS));
    }

    // UE-A protects the media with K, uploads it (with Ke2m when Figure 19 is used).
    run.media = new byte[200_000];
    new SecureRandom().nextBytes(run.media);
    byte[] msgId = new byte[16];
    new SecureRandom().nextBytes(msgId);
    byte[] container = MediaProtection.encrypt(run.kAtA, msgId, run.media, 65_536);
    run.mailboxView.add(container);
    if (e2m) {
      byte[] tag = UploadProtection.uploadTag(run.e2mAtA, a.id(), m.id(), container);
      run.mailboxView.add(tag);
      UploadProtection.verifyUpload(run.e2mAtM, a.id(), m.id(), container, tag);
      byte[] ack = UploadProtection.ack(run.e2mAtM, a.id(), m.id(), tag);
      UploadProtection.verifyAck(run.e2mAtA, a.id(), m.id(), tag, ack);
    }

    // Fig 18: UE-B comes online, fetches offer, ticket and media from its mailbox, asks the KMS.
    f.clock.advance(Duration.ofHours(3));
    ClientSession sb = f.bootstrap(b);
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, offer.offerBytes(), grant.ticket());
    run.kAtB = f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()));
    run.mediaAtB = MediaProtection.decrypt(run.kAtB, container);
    return run;
  }

  @Test
  void figures17and18_mediaRoundTrip_bothUesGetTheSameKey() throws Exception {
    Run run = deliver(f, alice, bob, vmBob, false);
    assertTrue(run.kAtA.equalContents(run.kAtB));
    assertArrayEquals(run.media, run.mediaAtB);
  }

  @Test
  void figure19_ueAAndMailboxShareKe2m_andProtectTheUpload() throws Exception {
    Run run = deliver(f, alice, bob, vmBob, true);
    assertTrue(run.e2mAtA.equalContents(run.e2mAtM));
    assertFalse(run.e2mAtA.equalContents(run.kAtA));
    assertArrayEquals(run.media, run.mediaAtB);
  }

  @Test
  void mailboxCompleteView_neverContainsK() throws Exception {
    for (boolean e2m : new boolean[] {false, true}) {
      Run run = deliver(f, alice, bob, vmBob, e2m);
      byte[] k = run.kAtA.toByteArray(ACCESS);
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      for (byte[] b : run.mailboxView) {
        all.write(b);
        all.write(0);
      }
      byte[] view = all.toByteArray();
      // No 8-byte window of K appears anywhere in what the mailbox received or stored.
      for (int off = 0; off + 8 <= k.length; off++) {
        assertFalse(contains(view, java.util.Arrays.copyOfRange(k, off, off + 8)),
            "K bytes found in the mailbox's view");
      }
    }
  }

  @Test
  void mediaContainer_tamperedOrTruncated_isRejected() throws Exception {
    Run run = deliver(f, alice, bob, vmBob, false);
    byte[] msgId = new byte[16];
    byte[] c = MediaProtection.encrypt(run.kAtA, msgId, run.media, 65_536);
    byte[] flipped = c.clone();
    flipped[flipped.length - 20] ^= 1;
    assertThrows(ProtocolException.class, () -> MediaProtection.decrypt(run.kAtB, flipped));
    // Drop the last chunk: the previous one was not marked last.
    int lastLen = 200_000 - 3 * 65_536 + 16;
    byte[] truncated = java.util.Arrays.copyOf(c, c.length - lastLen - 4);
    assertThrows(ProtocolException.class, () -> MediaProtection.decrypt(run.kAtB, truncated));
  }

  @Test
  void retrieval_isServedByAFreshKmsInstance_noStateIsKept() throws Exception {
    ClientSession sa = f.bootstrap(alice);
    ClientSession sm = f.bootstrap(vmBob);
    UeClient.OutgoingOffer offer = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = f.mailbox.keyRequest(sm, offer.offerBytes(), false);
    MailboxClient.Grant grant = f.mailbox.openResponse(req,
        f.kms.mailboxKeyRequest(req.requestBytes()));
    SecretBytes k = f.ue.openDelivery(offer, grant.deliveryForUeA(), VM_BOB).mediaKey();
    ClientSession sb = f.bootstrap(bob);

    f.rebuild(DeferredDeliveryOptions.DEFAULTS); // new service, new caches: nothing carried over
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, offer.offerBytes(), grant.ticket());
    assertTrue(k.equalContents(f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()))));
  }

  @Test
  void keyRotation_oldTicketsAndBtidsStillServed_newOnesUseNewVersions() throws Exception {
    KmsFixture g = f;
    ClientSession sa = g.bootstrap(alice);
    ClientSession sm = g.bootstrap(vmBob);
    ClientSession sbOld = g.bootstrap(bob);
    UeClient.OutgoingOffer offer = g.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = g.mailbox.keyRequest(sm, offer.offerBytes(), false);
    MailboxClient.Grant grant = g.mailbox.openResponse(req,
        g.kms.mailboxKeyRequest(req.requestBytes()));
    SecretBytes k = g.ue.openDelivery(offer, grant.deliveryForUeA(), VM_BOB).mediaKey();

    for (KeyPurpose p : new KeyPurpose[] {KeyPurpose.BTID_MAC, KeyPurpose.TICKET_ROOT,
        KeyPurpose.MEDIA_ROOT}) {
      if (g.ring.activeVersion(p) == 1) {
        g.ring.rotate(p);
      }
    }
    g.rebuild(DeferredDeliveryOptions.DEFAULTS);
    // The old B-TID (btid-mac v1) and old ticket (ticket-root v1, media-root v1) still work.
    UeClient.PendingRetrieval pr = g.ue.retrieval(sbOld, offer.offerBytes(), grant.ticket());
    assertTrue(k.equalContents(g.ue.openRetrieval(pr, g.kms.retrieveMediaKey(pr.requestBytes()))));
    // New messages carry the new versions.
    Run run = deliver(g, alice, bob, vmBob, false);
    Ticket t = Ticket.decode(run.ticket);
    assertEquals(2, t.ticketRootVersion());
    assertEquals(2, t.mediaRootVersion());
    assertEquals(2, g.bootstrap(alice).btid().btidMacVersion());
  }

  static boolean contains(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }
}
