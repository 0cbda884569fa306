package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyState;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A recovery found in the node's shared keys (docs/protocol.md section 12) still makes every
 * check a full recovery makes, on a real SoftHSM2 token: the B-TID's key versions, its expiry
 * (and the principal's standing: {@code PrincipalRevocationTest} uses B-TIDs that were recovered
 * before the revocation). Each case first serves a request with the B-TID, so that its key is
 * shared, then changes what the check looks at.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SharedKeyChecksTest {
  private static KmsFixture f;
  private static Credential alice;
  private static Credential bob;
  private static Credential vmBob;
  private ClientSession sa;
  private ClientSession sm;
  private ClientSession sb;
  private int sharedBefore;

  @BeforeAll
  static void enrol() throws Exception {
    f = new KmsFixture();
    alice = f.enrol(Role.UE, ALICE);
    bob = f.enrol(Role.UE, BOB);
    vmBob = f.enrol(Role.MAILBOX, VM_BOB);
  }

  @AfterAll
  static void tearDown() {
    f.close();
  }

  /** Fresh B-TIDs for each case: nothing of theirs is shared yet. */
  @BeforeEach
  void bootstrap() throws Exception {
    sa = f.bootstrap(alice);
    sm = f.bootstrap(vmBob);
    sb = f.bootstrap(bob);
    sharedBefore = f.hsm.status().sharedKeys();
  }

  private void assertShared(int added) {
    assertEquals(sharedBefore + added, f.hsm.status().sharedKeys());
  }

  private record Left(UeClient.OutgoingOffer offer, byte[] ticket, SecretBytes k) {}

  private Left leaveMessage() throws Exception {
    UeClient.OutgoingOffer offer = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = f.mailbox.keyRequest(sm, offer.offerBytes(), false);
    MailboxClient.Grant grant = f.mailbox.openResponse(req,
        f.kms.mailboxKeyRequest(req.requestBytes()));
    return new Left(offer, grant.ticket(),
        f.ue.openDelivery(offer, grant.deliveryForUeA(), VM_BOB).mediaKey());
  }

  private byte[] retrieval(Left m) throws Exception {
    return f.ue.retrieval(sb, m.offer().offerBytes(), m.ticket()).requestBytes();
  }

  /** UE-B retrieves the message's key (Kb recovered, and shared from now on). */
  private SecretBytes retrieve(Left m) throws Exception {
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, m.offer().offerBytes(), m.ticket());
    return f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()));
  }

  /** Both recoveries refused with {@code code}: UE-B's retrieval and a new key request. */
  private void assertRefusedBoth(Left m, ErrorCode code) throws Exception {
    assertEquals(code, refused(retrieval(m), false));
    byte[] keyRequest = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), false)
        .requestBytes();
    assertEquals(code, refused(keyRequest, true));
  }

  private ErrorCode refused(byte[] request, boolean keyRequest) {
    return assertThrows(KmsException.class, () -> {
      if (keyRequest) {
        f.kms.mailboxKeyRequest(request);
      } else {
        f.kms.retrieveMediaKey(request);
      }
    }).code();
  }

  @Test
  @Order(3) // last: retires the credentials' root
  void aSharedKey_ofACredentialRootVersionRetiredSince_isKeyRetired() throws Exception {
    Left m = leaveMessage(); // UE-A's and the mailbox's keys now shared
    assertTrue(m.k().equalContents(retrieve(m)));
    assertShared(6); // Ka, Km, Kb and the request key of each
    int v = sb.btid().credVersion();
    f.ring.rotate(KeyPurpose.CRED_ROOT, Duration.ZERO);
    f.ring.setState(KeyPurpose.CRED_ROOT, v, KeyState.RETIRED, Duration.ZERO);

    assertRefusedBoth(m, ErrorCode.KEY_RETIRED);
  }

  @Test
  @Order(2)
  void aSharedKey_ofAnExpiredBtid_isExpiredBtid() throws Exception {
    Left m = leaveMessage();
    retrieve(m);
    assertShared(6);
    f.clock.advance(DeferredDeliveryOptions.DEFAULTS.btidLifetime().plusSeconds(1));

    assertRefusedBoth(m, ErrorCode.EXPIRED_BTID);
  }

  @Test
  @Order(1)
  void aSharedKey_servesTheSameBtidAgain_andAnyChangedByteIsAMiss() throws Exception {
    leaveMessage();
    Left again = leaveMessage(); // both recoveries and both request keys found this time
    assertShared(4); // Ka, Km and their request keys, made by the first message only
    assertTrue(again.k().equalContents(retrieve(again)));
    // The mailbox's B-TID with one byte of its tag changed: not found, so the tag is checked.
    byte[] req = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), false)
        .requestBytes();
    int at = DeferredDeliveryNegativeTest.indexOf(req, sm.btid().encode());
    assertTrue(at >= 0, "the mailbox's B-TID is in its request");
    int tagByte = at + sm.btid().encode().length - 1;
    req[tagByte] ^= 1;
    assertEquals(ErrorCode.INTEGRITY, refused(req, true));
  }
}
