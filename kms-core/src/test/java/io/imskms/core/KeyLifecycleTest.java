package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.core.keys.KeyLifecycleStore;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.KeyState;
import io.imskms.core.keys.KeyVersionInfo;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The long-term key lifecycle on a real SoftHSM2 token: staged rotation, decrypt-only, retirement
 * with KEY_RETIRED, a second node (its own key ring, refreshed every 2 s as a server polls) that
 * sees every change within 5 s, and a lifecycle record that was not written through the HSM. The
 * steps share one token and build on each other, so their order is explicit.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KeyLifecycleTest {
  private static final Duration DEADLINE = Duration.ofSeconds(5);
  private static KmsFixture f;
  private static Credential alice;
  private static Credential bob;
  private static Credential vmBob;

  @BeforeAll
  static void setUp() throws Exception {
    f = new KmsFixture();
    alice = f.enrol(Role.UE, ALICE);
    bob = f.enrol(Role.UE, BOB);
    vmBob = f.enrol(Role.MAILBOX, VM_BOB);
  }

  @AfterAll
  static void tearDown() {
    if (f != null) {
      f.close();
    }
  }

  /** A message left for Bob: UE-A's key and the mailbox's ticket, with the versions in force. */
  private record Left(UeClient.OutgoingOffer offer, byte[] ticket, SecretBytes k) {}

  private static Left leaveMessage() throws Exception {
    ClientSession sa = f.bootstrap(alice);
    ClientSession sm = f.bootstrap(vmBob);
    UeClient.OutgoingOffer offer = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = f.mailbox.keyRequest(sm, offer.offerBytes(), false);
    MailboxClient.Grant grant = f.mailbox.openResponse(req,
        f.kms.mailboxKeyRequest(req.requestBytes()));
    SecretBytes k = f.ue.openDelivery(offer, grant.deliveryForUeA(), VM_BOB).mediaKey();
    return new Left(offer, grant.ticket(), k);
  }

  private static SecretBytes retrieve(ClientSession sb, Left m) throws Exception {
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, m.offer.offerBytes(), m.ticket);
    return f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()));
  }

  private static ErrorCode refused(ClientSession sb, Left m) throws Exception {
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, m.offer.offerBytes(), m.ticket);
    return assertThrows(KmsException.class, () -> f.kms.retrieveMediaKey(pr.requestBytes()))
        .code();
  }

  private static KeyVersionInfo info(KeyRing ring, KeyPurpose p, int v) {
    return ring.describe().stream().filter(k -> k.purpose() == p && k.version() == v)
        .findFirst().orElseThrow();
  }

  @Test
  @Order(1)
  void stagedRotation_newVersionIsDecryptOnlyUntilDue_thenActive_neverEarlier() throws Exception {
    KeyPurpose p = KeyPurpose.TICKET_ROOT;
    int old = f.ring.activeVersion(p);
    KeyVersionInfo made = f.ring.rotate(p, Duration.ofSeconds(3));
    int next = made.version();
    assertEquals(old + 1, next);
    assertEquals(KeyState.DECRYPT_ONLY, made.state());
    Instant due = made.activated().orElseThrow();
    assertTrue(due.isAfter(made.created().orElseThrow()), made.toString());
    // Staged: new tickets still use the old version; the new one is known and accepted.
    assertEquals(old, f.ring.activeVersion(p));
    assertEquals(old, Ticket.decode(leaveMessage().ticket()).ticketRootVersion());
    assertEquals(next, f.ring.version(p, next).version());
    // A second rotation while one is staged is refused.
    assertThrows(HsmPolicyException.class, () -> f.ring.rotate(p, Duration.ofSeconds(3)));

    long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (f.ring.activeVersion(p) != next && System.nanoTime() < until) {
      Thread.sleep(200);
      f.ring.refresh();
      if (f.ring.activeVersion(p) == next) {
        assertFalse(Instant.now().isBefore(due), "activated before its time " + due);
      }
    }
    assertEquals(next, f.ring.activeVersion(p), "not active 10 s after staging");
    assertEquals(KeyState.DECRYPT_ONLY, f.ring.state(p, old).orElseThrow());
    assertEquals(next, Ticket.decode(leaveMessage().ticket()).ticketRootVersion());
  }

  @Test
  @Order(2)
  void ticketAndBtid_madeBeforeRotation_workAfterIt_andFailWithKeyRetired_onceRetired()
      throws Exception {
    Left before = leaveMessage();
    ClientSession bobBefore = f.bootstrap(bob);
    Ticket t = Ticket.decode(before.ticket());
    int btidMac = bobBefore.btid().btidMacVersion();
    for (KeyPurpose p : new KeyPurpose[] {KeyPurpose.BTID_MAC, KeyPurpose.TICKET_ROOT,
        KeyPurpose.MEDIA_ROOT}) {
      f.ring.rotate(p, Duration.ZERO);
    }
    assertEquals(KeyState.DECRYPT_ONLY,
        f.ring.state(KeyPurpose.TICKET_ROOT, t.ticketRootVersion()).orElseThrow());
    // Decrypt-only: the old ticket and the old B-TID are still served.
    assertTrue(before.k().equalContents(retrieve(bobBefore, before)));

    // Retire what the ticket names: a fresh B-TID with the old ticket is refused.
    f.ring.setState(KeyPurpose.TICKET_ROOT, t.ticketRootVersion(), KeyState.RETIRED,
        Duration.ZERO);
    f.ring.setState(KeyPurpose.MEDIA_ROOT, t.mediaRootVersion(), KeyState.RETIRED,
        Duration.ZERO);
    assertEquals(ErrorCode.KEY_RETIRED, refused(f.bootstrap(bob), before));

    // A message left after the rotation, fetched with the B-TID from before it: served while
    // its MAC key version is decrypt-only, KEY_RETIRED once it is retired.
    Left after = leaveMessage();
    assertTrue(after.k().equalContents(retrieve(bobBefore, after)));
    f.ring.setState(KeyPurpose.BTID_MAC, btidMac, KeyState.RETIRED, Duration.ZERO);
    assertEquals(ErrorCode.KEY_RETIRED, refused(bobBefore, after));
    // and a B-TID made now is fine.
    assertTrue(after.k().equalContents(retrieve(f.bootstrap(bob), after)));
  }

  @Test
  @Order(3)
  void transitions_retiredIsFinal_theActiveVersionCannotBeDemotedOrRetired() throws Exception {
    KeyPurpose p = KeyPurpose.MEDIA_ROOT;
    int active = f.ring.activeVersion(p);
    int retired = f.ring.describe().stream()
        .filter(k -> k.purpose() == p && k.state() == KeyState.RETIRED).findFirst().orElseThrow()
        .version();
    for (KeyState to : new KeyState[] {KeyState.ACTIVE, KeyState.DECRYPT_ONLY}) {
      assertThrows(HsmPolicyException.class, () -> f.ring.setState(p, retired, to,
          Duration.ZERO));
    }
    for (KeyState to : new KeyState[] {KeyState.DECRYPT_ONLY, KeyState.RETIRED}) {
      assertThrows(HsmPolicyException.class, () -> f.ring.setState(p, active, to,
          Duration.ZERO));
    }
    assertEquals(active, f.ring.activeVersion(p));
  }

  @Test
  @Order(4)
  void secondNode_pollingEvery2s_seesRotationActivationAndRetirement_within5s()
      throws Exception {
    KeyRing other = KeyRing.load(f.hsm);
    ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor();
    try {
      poller.scheduleWithFixedDelay(() -> {
        try {
          other.refresh();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }, 2, 2, TimeUnit.SECONDS);
      // (Not CRED_ROOT: retiring a cred-root version revokes every credential enrolled under it.)
      KeyPurpose p = KeyPurpose.MEDIA_ROOT;
      int old = f.ring.activeVersion(p);
      KeyVersionInfo made = f.ring.rotate(p, Duration.ofSeconds(7));
      int next = made.version();
      // Known (decrypt-only) on the other node within 5 s, while it still issues with the old.
      awaitState(other, p, next, KeyState.DECRYPT_ONLY);
      assertEquals(old, other.activeVersion(p));
      // Active there within 5 s of its activation time.
      Instant due = made.activated().orElseThrow();
      long toDue = Math.max(0, Duration.between(Instant.now(), due).toMillis());
      Thread.sleep(toDue);
      awaitState(other, p, next, KeyState.ACTIVE);
      assertEquals(KeyState.DECRYPT_ONLY, other.state(p, old).orElseThrow());
      // Retirement by the first node: refused on the other within 5 s.
      f.ring.refresh();
      f.ring.setState(p, old, KeyState.RETIRED, Duration.ZERO);
      awaitState(other, p, old, KeyState.RETIRED);
      assertEquals(KeyState.RETIRED, info(other, p, old).state());
    } finally {
      poller.shutdownNow();
    }
  }

  private static void awaitState(KeyRing ring, KeyPurpose p, int v, KeyState s)
      throws InterruptedException {
    long until = System.nanoTime() + DEADLINE.toNanos();
    while (System.nanoTime() < until && !ring.state(p, v).equals(java.util.Optional.of(s))) {
      Thread.sleep(50);
    }
    assertEquals(java.util.Optional.of(s), ring.state(p, v),
        p.id(v) + " not " + s.cliName() + " on the other node within " + DEADLINE);
  }

  @Test
  @Order(5)
  void rollback_reactivatesAnOlderVersionAtOnce_butANewVersionOnlyAfterTheStagingDelay()
      throws Exception {
    KeyPurpose p = KeyPurpose.BTID_MAC;
    int before = f.ring.activeVersion(p);
    int next = f.ring.rotate(p, Duration.ZERO).version();
    assertEquals(next, f.bootstrap(alice).btid().btidMacVersion());
    // Roll back: the old version has existed longer than the staging delay: active at once.
    assertEquals(KeyState.ACTIVE,
        f.ring.setState(p, before, KeyState.ACTIVE, Duration.ofSeconds(1)).state());
    assertEquals(KeyState.DECRYPT_ONLY, f.ring.state(p, next).orElseThrow());
    assertEquals(before, f.bootstrap(alice).btid().btidMacVersion());

    // A version created just now is activated no earlier than created + staging.
    KeyVersionInfo fresh = f.ring.rotate(p, Duration.ofSeconds(60));
    assertEquals(KeyState.DECRYPT_ONLY, f.ring.setState(p, fresh.version(),
        KeyState.DECRYPT_ONLY, Duration.ofSeconds(60)).state()); // cancels the staged activation
    KeyVersionInfo asked = f.ring.setState(p, fresh.version(), KeyState.ACTIVE,
        Duration.ofSeconds(60));
    assertEquals(KeyState.DECRYPT_ONLY, asked.state());
    assertEquals(fresh.created().orElseThrow().plusSeconds(60), asked.activated().orElseThrow());
    assertEquals(before, f.ring.activeVersion(p));
    f.ring.setState(p, fresh.version(), KeyState.DECRYPT_ONLY, Duration.ZERO);
    f.ring.refresh();
    assertEquals(before, f.ring.activeVersion(p));
  }

  @Test
  @Order(6)
  void issuedVersions_areAlwaysTheActiveOnes() throws Exception {
    Map<KeyPurpose, Integer> active = Map.of(
        KeyPurpose.BTID_MAC, f.ring.activeVersion(KeyPurpose.BTID_MAC),
        KeyPurpose.TICKET_ROOT, f.ring.activeVersion(KeyPurpose.TICKET_ROOT),
        KeyPurpose.MEDIA_ROOT, f.ring.activeVersion(KeyPurpose.MEDIA_ROOT));
    for (Map.Entry<KeyPurpose, Integer> e : active.entrySet()) {
      assertEquals(KeyState.ACTIVE, f.ring.state(e.getKey(), e.getValue()).orElseThrow());
      assertEquals(1, f.ring.describe().stream()
          .filter(k -> k.purpose() == e.getKey() && k.active()).count());
    }
    Ticket t = Ticket.decode(leaveMessage().ticket());
    assertEquals(active.get(KeyPurpose.TICKET_ROOT), t.ticketRootVersion());
    assertEquals(active.get(KeyPurpose.MEDIA_ROOT), t.mediaRootVersion());
    assertEquals(active.get(KeyPurpose.BTID_MAC), f.bootstrap(alice).btid().btidMacVersion());
  }

  @Test
  @Order(7)
  void aLifecycleRecordNotWrittenThroughTheHsm_isRefused_andTheLastGoodStateStays()
      throws Exception {
    int active = f.ring.activeVersion(KeyPurpose.TICKET_ROOT);
    byte[] forged = new byte[64];
    Arrays.fill(forged, (byte) '{');
    f.hsm.replaceDataObject(KeyLifecycleStore.OBJECT_LABEL, forged);
    assertThrows(HsmIntegrityException.class, () -> f.ring.refresh());
    assertThrows(HsmIntegrityException.class, () -> KeyRing.load(f.hsm));
    assertEquals(active, f.ring.activeVersion(KeyPurpose.TICKET_ROOT));
    assertThrows(HsmIntegrityException.class,
        () -> f.ring.rotate(KeyPurpose.TICKET_ROOT, Duration.ZERO));
  }

  @Test
  @Order(8)
  void aRemovedLifecycleRecord_isRefused_whileItsMacKeyIsInTheToken() throws Exception {
    ProcessBuilder pb = new ProcessBuilder("pkcs11-tool", "--module",
        f.token.module().toString(), "--token-label", f.token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN", "--delete-object", "--type", "data", "--label",
        KeyLifecycleStore.OBJECT_LABEL).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", f.token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", f.token.userPinForTest());
    Process proc = pb.start();
    String out = new String(proc.getInputStream().readAllBytes());
    assertTrue(proc.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, proc.exitValue(), out);
    assertTrue(f.hsm.readDataObjects(KeyLifecycleStore.OBJECT_LABEL).isEmpty());
    HsmIntegrityException e = assertThrows(HsmIntegrityException.class, () -> KeyRing.load(f.hsm));
    assertTrue(e.getMessage().contains("removed"), e.getMessage());
  }
}
