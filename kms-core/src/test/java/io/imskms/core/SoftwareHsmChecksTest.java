package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyState;
import io.imskms.core.principals.Principals;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.HsmUnavailableException;
import io.imskms.hsm.InsecureSoftwareHsm;
import io.imskms.protocol.EnrolmentFile;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Request checks of kms-core at edges the shared suites do not pin: B-TID and ticket expiry at
 * their exact millisecond, the lifetimes written into B-TIDs and tickets, retired key versions
 * of every purpose (KEY_RETIRED) next to rotated ones still served, enrolment's refusals and the
 * credential version it hands out. Written where mutation testing showed a changed boundary or a
 * dropped check going unnoticed (docs/assurance.md). On {@link io.imskms.hsm.InsecureSoftwareHsm}
 * (a fresh KMS per test, milliseconds); what they rely on of the HSM is cross-checked against
 * SoftHSM2 by {@code SoftwareHsmCrossCheckTest}.
 */
class SoftwareHsmChecksTest {
  private KmsFixture f;

  @BeforeEach
  void setUp() throws Exception {
    f = KmsFixture.onSoftwareHsm();
  }

  @AfterEach
  void tearDown() {
    f.close();
  }

  private static ErrorCode code(Call call) {
    return assertThrows(KmsException.class, call::run).code();
  }

  @FunctionalInterface
  interface Call {
    void run() throws Exception;
  }

  private record Left(UeClient.OutgoingOffer offer, byte[] ticket, SecretBytes k) {}

  private Left leave(ClientSession sa, ClientSession sm) throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    MailboxClient.Grant g = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes()));
    return new Left(o, g.ticket(), f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB).mediaKey());
  }

  private SecretBytes retrieve(ClientSession sb, Left m) throws Exception {
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, m.offer().offerBytes(), m.ticket());
    return f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()));
  }

  private ErrorCode refusedRetrieval(ClientSession sb, Left m) throws Exception {
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, m.offer().offerBytes(), m.ticket());
    return code(() -> f.kms.retrieveMediaKey(pr.requestBytes()));
  }

  @Test
  void btid_carriesItsLifetime_isServedAtItsLastMillisecond_expiredOneLater() throws Exception {
    Credential bob = f.enrol(Role.UE, BOB);
    ClientSession sa = f.bootstrap(f.enrol(Role.UE, ALICE));
    ClientSession sm = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    long issued = f.clock.millis();
    ClientSession sb = f.bootstrap(bob);
    long notAfter = sb.btid().notAfterMs();
    assertEquals(issued + DeferredDeliveryOptions.DEFAULTS.btidLifetime().toMillis(), notAfter);
    Left m = leave(sa, sm);
    f.clock.advance(Duration.ofMillis(notAfter - f.clock.millis()));
    assertTrue(m.k().equalContents(retrieve(sb, m)), "served at notAfter itself");
    f.clock.advance(Duration.ofMillis(1));
    assertEquals(ErrorCode.EXPIRED_BTID, refusedRetrieval(sb, m));
    // The mailbox's and UE-A's B-TIDs were issued earlier: expired in Figure 17 too.
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    byte[] req = f.mailbox.keyRequest(sm, o.offerBytes(), false).requestBytes();
    assertEquals(ErrorCode.EXPIRED_BTID, code(() -> f.kms.mailboxKeyRequest(req)));
    // UE-A's B-TID alone expired (a fresh mailbox B-TID): still EXPIRED_BTID.
    ClientSession freshM = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    byte[] req2 = f.mailbox.keyRequest(freshM, o.offerBytes(), false).requestBytes();
    assertEquals(ErrorCode.EXPIRED_BTID, code(() -> f.kms.mailboxKeyRequest(req2)));
  }

  @Test
  void ticket_carriesTheRetention_isServedAtItsLastMillisecond_expiredOneLater()
      throws Exception {
    Credential bob = f.enrol(Role.UE, BOB);
    ClientSession sa = f.bootstrap(f.enrol(Role.UE, ALICE));
    ClientSession sm = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    long issued = f.clock.millis();
    Left m = leave(sa, sm);
    Ticket t = Ticket.decode(m.ticket());
    assertEquals(issued + DeferredDeliveryOptions.DEFAULTS.ticketRetention().toMillis(),
        t.notAfterMs());
    assertEquals(f.ring.activeVersion(KeyPurpose.TICKET_ROOT), t.ticketRootVersion());
    assertEquals(f.ring.activeVersion(KeyPurpose.MEDIA_ROOT), t.mediaRootVersion());
    assertEquals(VM_BOB, t.idBm());
    f.clock.advance(Duration.ofMillis(t.notAfterMs() - f.clock.millis()));
    assertTrue(m.k().equalContents(retrieve(f.bootstrap(bob), m)), "served at notAfter itself");
    f.clock.advance(Duration.ofMillis(1));
    assertEquals(ErrorCode.EXPIRED_TICKET, refusedRetrieval(f.bootstrap(bob), m));
  }

  @Test
  void retiredVersions_areKeyRetired_rotatedOnesStillServed() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    ClientSession sa = f.bootstrap(alice);
    ClientSession sm = f.bootstrap(vmBob);
    ClientSession sb = f.bootstrap(bob);
    Left m = leave(sa, sm);
    for (KeyPurpose p : KeyPurpose.values()) {
      f.ring.rotate(p, Duration.ZERO);
      assertEquals(2, f.ring.activeVersion(p));
    }
    f.rebuild(DeferredDeliveryOptions.DEFAULTS);
    // Decrypt-only v1: what was issued with it is still served, new things use v2.
    assertTrue(m.k().equalContents(retrieve(sb, m)));
    assertEquals(2, f.bootstrap(alice).btid().btidMacVersion());
    assertEquals(1, f.bootstrap(alice).btid().credVersion(), "the credential stays v1");
    Left m2 = leave(f.bootstrap(alice), f.bootstrap(vmBob));
    assertEquals(2, Ticket.decode(m2.ticket()).ticketRootVersion());
    assertEquals(2, Ticket.decode(m2.ticket()).mediaRootVersion());
    Credential alice2 = f.enrol(Role.UE, ALICE);
    assertEquals(2, alice2.credVersion());

    f.ring.setState(KeyPurpose.TICKET_ROOT, 1, KeyState.RETIRED, Duration.ZERO);
    assertEquals(ErrorCode.KEY_RETIRED, refusedRetrieval(f.bootstrap(bob), m));
    assertTrue(m2.k().equalContents(retrieve(f.bootstrap(bob), m2)));
    f.ring.setState(KeyPurpose.BTID_MAC, 1, KeyState.RETIRED, Duration.ZERO);
    UeClient.OutgoingOffer o = f.ue.offer(f.bootstrap(alice), BOB);
    byte[] oldMailboxBtid = f.mailbox.keyRequest(sm, o.offerBytes(), false).requestBytes();
    assertEquals(ErrorCode.KEY_RETIRED, code(() -> f.kms.mailboxKeyRequest(oldMailboxBtid)));
    f.ring.setState(KeyPurpose.CRED_ROOT, 1, KeyState.RETIRED, Duration.ZERO);
    byte[] boot = f.bootstrapping.start(alice).requestBytes();
    assertEquals(ErrorCode.KEY_RETIRED, code(() -> f.kms.bootstrap(boot)));
    assertNotNull(f.bootstrap(alice2), "re-enrolled on cred-root v2");
    f.ring.setState(KeyPurpose.MEDIA_ROOT, 1, KeyState.RETIRED, Duration.ZERO);
    assertTrue(m2.k().equalContents(retrieve(f.bootstrap(f.enrol(Role.UE, BOB)), m2)));
  }

  @Test
  void mediaRootRetired_withItsTicketRootKept_isKeyRetired() throws Exception {
    ClientSession sa = f.bootstrap(f.enrol(Role.UE, ALICE));
    ClientSession sm = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    Credential bob = f.enrol(Role.UE, BOB);
    Left m = leave(sa, sm);
    f.ring.rotate(KeyPurpose.MEDIA_ROOT, Duration.ZERO);
    f.ring.setState(KeyPurpose.MEDIA_ROOT, 1, KeyState.RETIRED, Duration.ZERO);
    f.rebuild(DeferredDeliveryOptions.DEFAULTS);
    assertEquals(ErrorCode.KEY_RETIRED, refusedRetrieval(f.bootstrap(bob), m));
  }

  @Test
  void enrolment_refusesMalformedAndServerFaults_andNamesTheActiveCredVersion()
      throws Exception {
    assertEquals(ErrorCode.MALFORMED, code(() -> f.enrolment.enrol(new byte[] {1, 2, 3})));
    CountingHsm faulty = new CountingHsm(f.hsm);
    EcdhEnrolment e = new EcdhEnrolment(faulty, f.keys, f.directory);
    faulty.failNext("generateEcKeyPair", new HsmUnavailableException("injected"));
    DeviceEnrolment d = new DeviceEnrolment(Role.UE, ALICE);
    assertEquals(ErrorCode.HSM_UNAVAILABLE, code(() -> e.enrol(d.requestBytes())));
    byte[] file = e.enrol(d.requestBytes());
    EnrolmentFile ef = EnrolmentFile.decode(file);
    assertEquals(Role.UE, ef.role());
    assertEquals(ALICE, ef.id());
    assertEquals(f.ring.activeVersion(KeyPurpose.CRED_ROOT), ef.credVersion());
    Credential c = d.open(file);
    assertNotNull(f.bootstrap(c));
    // A mailbox of the directory enrols as a mailbox, and bootstraps as one.
    DeviceEnrolment dm = new DeviceEnrolment(Role.MAILBOX, VM_BOB);
    Credential vm = dm.open(f.enrolment.enrol(dm.requestBytes()));
    assertEquals(Role.MAILBOX, f.bootstrap(vm).btid().role());
  }

  @Test
  void longTermKeys_ofARing_mapsItsFailuresAndNamesIt() throws Exception {
    LongTermKeys keys = LongTermKeys.of(f.ring);
    assertThrows(NullPointerException.class, () -> LongTermKeys.of(null));
    assertEquals(f.ring.active(KeyPurpose.MEDIA_ROOT), keys.key(KeyPurpose.MEDIA_ROOT, 1));
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION,
        code(() -> keys.key(KeyPurpose.MEDIA_ROOT, 2)));
    f.ring.rotate(KeyPurpose.MEDIA_ROOT, Duration.ZERO);
    assertEquals(2, keys.activeVersion(KeyPurpose.MEDIA_ROOT));
    f.ring.setState(KeyPurpose.MEDIA_ROOT, 1, KeyState.RETIRED, Duration.ZERO);
    assertEquals(ErrorCode.KEY_RETIRED, code(() -> keys.key(KeyPurpose.MEDIA_ROOT, 1)));
    assertEquals("LongTermKeys[" + f.ring + "]", keys.toString());
  }

  private static Object call(Object target, Method m, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  /** {@code hsm}, whose sessions throw {@code e} (unchecked: a bug, not an HSM fault) at op. */
  private static Hsm throwingAt(Hsm hsm, String op, RuntimeException e) {
    return (Hsm) Proxy.newProxyInstance(Hsm.class.getClassLoader(), new Class<?>[] {Hsm.class},
        (proxy, m, args) -> {
          Object r = call(hsm, m, args);
          if (!m.getName().equals("openSession")) {
            return r;
          }
          return Proxy.newProxyInstance(Hsm.class.getClassLoader(),
              new Class<?>[] {HsmSession.class}, (p2, m2, a2) -> {
                if (m2.getName().equals(op)) {
                  throw e;
                }
                return call(r, m2, a2);
              });
        });
  }

  private DeferredDeliveryService serviceOn(Hsm hsm) {
    return new DeferredDeliveryService(hsm, f.keys, new KmsBootstrapper(f.keys, f.replay,
        f.directory, f.clock, DeferredDeliveryOptions.DEFAULTS.btidLifetime(), ServerRandom.HSM),
        f.directory, f.replay, f.clock, DeferredDeliveryOptions.DEFAULTS);
  }

  /**
   * An unchecked exception from inside a request (a bug) propagates, and the request gives back
   * the nonces it recorded, as for any failure on the server's side: the same request is served
   * afterwards.
   */
  @Test
  void anUncheckedFaultMidRequest_propagates_andGivesTheNoncesBack() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    ClientSession sa = f.bootstrap(alice);
    ClientSession sb = f.bootstrap(f.enrol(Role.UE, BOB));
    ClientSession sm = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    IllegalStateException bug = new IllegalStateException("injected");
    // Bootstrap: the B-TID's tag is signed after the replay check.
    Bootstrapping.Pending p = f.bootstrapping.start(alice);
    int before = f.replay.size();
    assertEquals(bug, assertThrows(IllegalStateException.class,
        () -> serviceOn(throwingAt(f.hsm, "sign", bug)).bootstrap(p.requestBytes())));
    assertEquals(before, f.replay.size());
    assertNotNull(f.bootstrapping.finish(p, f.kms.bootstrap(p.requestBytes())));
    // Figure 17: the response MAC is the last step, after both nonces were recorded.
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    before = f.replay.size();
    assertThrows(IllegalStateException.class,
        () -> serviceOn(throwingAt(f.hsm, "sign", bug)).mailboxKeyRequest(r.requestBytes()));
    assertEquals(before, f.replay.size());
    MailboxClient.Grant g = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes()));
    // Figure 18: the wrap of K is the last step.
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
    before = f.replay.size();
    assertThrows(IllegalStateException.class,
        () -> serviceOn(throwingAt(f.hsm, "wrapKey", bug)).retrieveMediaKey(pr.requestBytes()));
    assertEquals(before, f.replay.size());
    assertNotNull(f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes())));
  }

  /** Nonces are per principal: two principals may draw the same nonce at the same instant. */
  @Test
  void theSameNonceFromTwoPrincipals_isServedForBoth() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    Credential bob = f.enrol(Role.UE, BOB);
    RandomSource one = seeded(7);
    RandomSource two = seeded(7);
    Bootstrapping.Pending pa = new Bootstrapping(f.clock, one).start(alice);
    Bootstrapping.Pending pb = new Bootstrapping(f.clock, two).start(bob);
    assertNotNull(f.kms.bootstrap(pa.requestBytes()));
    assertNotNull(f.kms.bootstrap(pb.requestBytes()));
    assertEquals(ErrorCode.REPLAY, code(() -> f.kms.bootstrap(pb.requestBytes())));
  }

  private static RandomSource seeded(long seed) {
    Random r = new Random(seed);
    return n -> {
      byte[] b = new byte[n];
      r.nextBytes(b);
      return b;
    };
  }

  /** The principals' standing as a test sets it (the registry's own tests are on the token). */
  private static final class Standing implements Principals {
    final Set<String> revoked = new HashSet<>();
    final Map<String, Integer> generations = new HashMap<>();

    @Override
    public int generation(String id) {
      return generations.getOrDefault(id, 0);
    }

    @Override
    public boolean revoked(String id) {
      return revoked.contains(id);
    }
  }

  /**
   * Revocation and re-enrolment as the bootstrapper, the B-TID recovery of Figures 17 and 18 and
   * the enrolment check them: PRINCIPAL_REVOKED, only after the proof of possession (an
   * unauthenticated request learns nothing and records no nonce), before the expiry check is
   * passed only by a live B-TID, and a superseded generation is refused like a revoked one.
   */
  @Test
  void revokedOrSupersededPrincipals_areRefusedAtEveryCheck() throws Exception {
    Standing standing = new Standing();
    DeferredDeliveryService kms = new DeferredDeliveryService(f.hsm, f.keys,
        new KmsBootstrapper(f.keys, f.replay, f.directory, f.clock,
            DeferredDeliveryOptions.DEFAULTS.btidLifetime(), ServerRandom.HSM, standing),
        f.directory, f.replay, f.clock, DeferredDeliveryOptions.DEFAULTS);
    EcdhEnrolment enrolment = new EcdhEnrolment(f.hsm, f.keys, f.directory, standing);
    Bootstrapping boot = f.bootstrapping;
    Call0<Credential> enrolAlice = () -> {
      DeviceEnrolment d = new DeviceEnrolment(Role.UE, ALICE);
      return d.open(enrolment.enrol(d.requestBytes()));
    };
    Credential alice = enrolAlice.get();
    assertEquals(0, alice.generation());
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    Bootstrapping.Pending pa = boot.start(alice);
    ClientSession sa = boot.finish(pa, kms.bootstrap(pa.requestBytes()));
    Bootstrapping.Pending pb = boot.start(bob);
    ClientSession sb = boot.finish(pb, kms.bootstrap(pb.requestBytes()));
    Bootstrapping.Pending pm = boot.start(vmBob);
    ClientSession sm = boot.finish(pm, kms.bootstrap(pm.requestBytes()));
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    MailboxClient.Grant g = f.mailbox.openResponse(r, kms.mailboxKeyRequest(r.requestBytes()));

    // Revoked: bootstrap refused after the proof, and its nonce is not kept.
    standing.revoked.add(ALICE);
    Bootstrapping.Pending p = boot.start(alice);
    byte[] badProof = p.requestBytes().clone();
    badProof[badProof.length - 1] ^= 1;
    assertEquals(ErrorCode.INTEGRITY, code(() -> kms.bootstrap(badProof)));
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, code(() -> kms.bootstrap(p.requestBytes())));
    DeviceEnrolment again = new DeviceEnrolment(Role.UE, ALICE);
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, code(() -> enrolment.enrol(again.requestBytes())));
    // ... and UE-A's live B-TID in Figure 17.
    UeClient.OutgoingOffer o2 = f.ue.offer(sa, BOB);
    byte[] r2 = f.mailbox.keyRequest(sm, o2.offerBytes(), false).requestBytes();
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, code(() -> kms.mailboxKeyRequest(r2)));
    standing.revoked.remove(ALICE);
    assertNotNull(boot.finish(p, kms.bootstrap(p.requestBytes())), "reinstated: served");

    // A revoked mailbox in Figure 17, a revoked recipient in Figure 18; an expired B-TID of a
    // revoked principal is EXPIRED_BTID (the expiry is checked first).
    standing.revoked.add(VM_BOB);
    byte[] r3 = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), false).requestBytes();
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, code(() -> kms.mailboxKeyRequest(r3)));
    standing.revoked.remove(VM_BOB);
    standing.revoked.add(BOB);
    byte[] q = f.ue.retrieval(sb, o.offerBytes(), g.ticket()).requestBytes();
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, code(() -> kms.retrieveMediaKey(q)));
    f.clock.advance(Duration.ofHours(13));
    byte[] late = f.ue.retrieval(sb, o.offerBytes(), g.ticket()).requestBytes();
    assertEquals(ErrorCode.EXPIRED_BTID, code(() -> kms.retrieveMediaKey(late)));
    f.clock.advance(Duration.ofHours(-13));
    standing.revoked.remove(BOB);

    // Re-enrolled: a new generation; the old credential and its B-TIDs are refused.
    standing.generations.put(ALICE, 1);
    Credential alice1 = enrolAlice.get();
    assertEquals(1, alice1.generation());
    assertEquals(ErrorCode.PRINCIPAL_REVOKED,
        code(() -> kms.bootstrap(boot.start(alice).requestBytes())));
    byte[] r4 = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), false)
        .requestBytes();
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, code(() -> kms.mailboxKeyRequest(r4)));
    Bootstrapping.Pending p1 = boot.start(alice1);
    ClientSession sa1 = boot.finish(p1, kms.bootstrap(p1.requestBytes()));
    assertEquals(1, sa1.btid().generation());
    MailboxClient.PendingKeyRequest r5 = f.mailbox.keyRequest(sm,
        f.ue.offer(sa1, BOB).offerBytes(), false);
    assertNotNull(f.mailbox.openResponse(r5, kms.mailboxKeyRequest(r5.requestBytes())));
    // A generation-1 credential with generation 0's key (a forged claim) fails the proof.
    Credential forged = new Credential(Role.UE, ALICE, 1, 1, io.imskms.client.Forge.kp(alice));
    assertEquals(ErrorCode.INTEGRITY,
        code(() -> kms.bootstrap(boot.start(forged).requestBytes())));
  }

  @FunctionalInterface
  interface Call0<T> {
    T get() throws Exception;
  }

  /** The software HSM counts what a request costs as the token's CountingHsm does. */
  @Test
  void operationCounts_ofABootstrap_areThoseOfTheToken() throws Exception {
    Credential alice = f.enrol(Role.UE, ALICE);
    f.bootstrap(alice);
    InsecureSoftwareHsm soft = (InsecureSoftwareHsm) f.hsm;
    Map<String, Long> before = soft.operations();
    f.bootstrap(alice);
    Map<String, Long> after = soft.operations();
    Map<String, Long> used = new HashMap<>();
    after.forEach((op, n) -> {
      long d = n - before.getOrDefault(op, 0L);
      if (d > 0) {
        used.put(op, d);
      }
    });
    // HsmOperationCountTest: derive 2, verify 1, random 1, sign 2 per bootstrap.
    assertEquals(Map.of("derive", 2L, "verify", 1L, "random", 1L, "sign", 2L), used);
    assertEquals(0, soft.countSessionObjects());
  }
}
