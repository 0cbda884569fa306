package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.CAROL;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.core.replay.ReplayCache;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import io.imskms.protocol.Wire;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Device revocation and re-enrolment on a real SoftHSM2 token: an operator's registry writes the
 * shared record, a node's registry (its own instance, refreshed as a server polls) refuses the
 * revoked principal at bootstrap and on every request with one of its B-TIDs, a fresh load (a
 * restart) still does, and a re-enrolment makes the old credential useless. The steps share one
 * token and build on each other, so their order is explicit.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PrincipalRevocationTest {
  KmsFixture f;
  private PrincipalRegistry operator;
  private PrincipalRegistry node;
  private DeferredDeliveryService kms;
  private EcdhEnrolment enrolment;
  private Credential alice;
  private Credential bob;
  private Credential vmBob;

  /** A real SoftHSM2 token; {@link PrincipalRevocationOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
    operator = PrincipalRegistry.load(f.hsm);
    startNode();
    alice = enrol(Role.UE, ALICE);
    bob = enrol(Role.UE, BOB);
    vmBob = enrol(Role.MAILBOX, VM_BOB);
  }

  /** A node as a server builds it at start: the record as the token holds it now. */
  private void startNode() throws Exception {
    node = PrincipalRegistry.load(f.hsm);
    ReplayCache replay = new ReplayCache(KmsFixture.WINDOW, 10_000, f.clock);
    kms = new DeferredDeliveryService(f.hsm, f.keys, new KmsBootstrapper(f.keys, replay,
        f.directory, f.clock, DeferredDeliveryOptions.DEFAULTS.btidLifetime(), ServerRandom.HSM,
        node), f.directory, replay, f.clock, DeferredDeliveryOptions.DEFAULTS);
    enrolment = new EcdhEnrolment(f.hsm, f.keys, f.directory, node);
  }

  @AfterAll
  void tearDown() {
    if (f != null) {
      f.close();
    }
  }

  private Credential enrol(Role role, String id) throws Exception {
    DeviceEnrolment device = new DeviceEnrolment(role, id);
    return device.open(enrolment.enrol(device.requestBytes()));
  }

  private ClientSession bootstrap(Credential c) throws Exception {
    Bootstrapping.Pending p = f.bootstrapping.start(c);
    return f.bootstrapping.finish(p, kms.bootstrap(p.requestBytes()));
  }

  private ErrorCode bootstrapRefused(Credential c) {
    Bootstrapping.Pending p = f.bootstrapping.start(c);
    return assertThrows(KmsException.class, () -> kms.bootstrap(p.requestBytes())).code();
  }

  /** Figure 17: alice's offer for bob through vm.bob; returns the KMS's answer or its refusal. */
  private byte[] keyRequest(ClientSession sa, ClientSession sm) throws Exception {
    UeClient.OutgoingOffer offer = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = f.mailbox.keyRequest(sm, offer.offerBytes(), false);
    return kms.mailboxKeyRequest(req.requestBytes());
  }

  private ErrorCode keyRequestRefused(ClientSession sa, ClientSession sm) {
    return assertThrows(KmsException.class, () -> keyRequest(sa, sm)).code();
  }

  @Test
  @Order(1)
  void firstEnrolments_writeNothing() throws Exception {
    enrol(Role.UE, CAROL);
    assertTrue(f.hsm.readDataObjects(PrincipalRegistry.OBJECT_LABEL).isEmpty());
    assertEquals(0, alice.generation());
    assertEquals(Wire.VERSION, bootstrap(alice).btid().encode()[0]);
  }

  @Test
  @Order(2)
  void revoked_isRefusedAtBootstrap_andOnEveryRequestWithABtidMadeBefore() throws Exception {
    ClientSession saBefore = bootstrap(alice);
    ClientSession sm = bootstrap(vmBob);
    keyRequest(saBefore, sm); // served before the revocation

    PrincipalRegistry.Change c = operator.revoke(ALICE, "device reported stolen");
    assertTrue(c.written());
    assertFalse(node.revoked(ALICE), "the node sees it only after its poll");
    assertEquals(java.util.List.of(ALICE + " revoked, generation 0"),
        node.refresh().stream().map(PrincipalRegistry::describe).toList());

    assertEquals(ErrorCode.PRINCIPAL_REVOKED, bootstrapRefused(alice));
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, keyRequestRefused(saBefore, sm));
    // Others are unaffected.
    bootstrap(bob);
    // Enrolling a revoked principal again without re-enrolment is refused too.
    assertEquals(ErrorCode.PRINCIPAL_REVOKED,
        assertThrows(KmsException.class, () -> enrol(Role.UE, ALICE)).code());
    // A second revocation writes nothing and keeps the first reason.
    assertFalse(operator.revoke(ALICE, "again").written());
    assertEquals("device reported stolen",
        operator.revokedPrincipals().get(0).reason().orElseThrow());
  }

  @Test
  @Order(3)
  void revokedMailbox_isRefusedOnTheKeyRequest_andARevokedRecipientOnTheRetrieval()
      throws Exception {
    operator.reinstate(ALICE);
    node.refresh();
    ClientSession sa = bootstrap(alice);
    ClientSession sm = bootstrap(vmBob);
    ClientSession sb = bootstrap(bob);
    UeClient.OutgoingOffer offer = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = f.mailbox.keyRequest(sm, offer.offerBytes(), false);
    MailboxClient.Grant grant = f.mailbox.openResponse(req,
        kms.mailboxKeyRequest(req.requestBytes()));

    operator.revoke(VM_BOB, null);
    operator.revoke(BOB, null);
    node.refresh();
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, keyRequestRefused(sa, sm));
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, offer.offerBytes(), grant.ticket());
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, assertThrows(KmsException.class,
        () -> kms.retrieveMediaKey(pr.requestBytes())).code());

    // After a restart (a fresh load of the record) they are still refused.
    startNode();
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, bootstrapRefused(bob));
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, bootstrapRefused(vmBob));

    // Reinstated: accepted again, the same credentials and the B-TIDs made before.
    operator.reinstate(VM_BOB);
    operator.reinstate(BOB);
    node.refresh();
    UeClient.PendingRetrieval again = f.ue.retrieval(sb, offer.offerBytes(), grant.ticket());
    f.ue.openRetrieval(again, kms.retrieveMediaKey(again.requestBytes()));
    keyRequest(bootstrap(alice), bootstrap(vmBob));
    assertThrows(HsmPolicyException.class, () -> operator.reinstate(BOB));
    // Nothing is left in the record once everyone is back at generation 0.
    assertTrue(operator.record().entries().isEmpty());
  }

  @Test
  @Order(4)
  void reenrolment_givesANewCredential_andTheOldOneIsUselessFromThenOn() throws Exception {
    ClientSession oldSession = bootstrap(alice);
    operator.revoke(ALICE, "lost");
    assertEquals(1, operator.reenrol(ALICE).after().generation());
    node.refresh();
    assertFalse(node.revoked(ALICE), "re-enrolment lifts the revocation");
    Credential fresh = enrol(Role.UE, ALICE);
    assertEquals(1, fresh.generation());
    ClientSession s = bootstrap(fresh);
    assertEquals(1, s.btid().generation());
    assertEquals(Wire.VERSION_GENERATION, s.btid().encode()[0]);
    keyRequest(s, bootstrap(vmBob));

    assertEquals(ErrorCode.PRINCIPAL_REVOKED, bootstrapRefused(alice));
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, keyRequestRefused(oldSession, bootstrap(vmBob)));
    // A credential claiming the new generation without its key does not verify.
    Credential forged = new Credential(Role.UE, ALICE, alice.credVersion(), 1,
        io.imskms.client.SecretBytes.copyOf(new byte[32],
            io.imskms.client.InsecureSecretAccess.get()));
    assertEquals(ErrorCode.INTEGRITY, bootstrapRefused(forged));

    // Twice: generation 2, and generation 1 is refused in turn.
    operator.reenrol(ALICE);
    node.refresh();
    Credential third = enrol(Role.UE, ALICE);
    assertEquals(2, third.generation());
    bootstrap(third);
    assertEquals(ErrorCode.PRINCIPAL_REVOKED, bootstrapRefused(fresh));
    alice = third;
  }

  @Test
  @Order(5)
  void aRecordNotWrittenThroughTheHsm_isRefused_andTheLastGoodStateStays() throws Exception {
    byte[] forged = new byte[64];
    Arrays.fill(forged, (byte) '{');
    byte[] good = f.hsm.readDataObjects(PrincipalRegistry.OBJECT_LABEL).get(0);
    f.hsm.replaceDataObject(PrincipalRegistry.OBJECT_LABEL, forged);
    assertThrows(HsmIntegrityException.class, () -> node.refresh());
    assertThrows(HsmIntegrityException.class, () -> PrincipalRegistry.load(f.hsm));
    assertThrows(HsmIntegrityException.class, () -> operator.revoke(CAROL, null));
    assertEquals(2, node.generation(ALICE), "the last good state stays in force");
    bootstrap(alice);
    // A record with a valid MAC but an older sequence (a restored copy) is refused while running.
    f.hsm.replaceDataObject(PrincipalRegistry.OBJECT_LABEL, good);
    node.refresh();
    operator.refresh();
    operator.revoke(CAROL, null);
    node.refresh();
    f.hsm.replaceDataObject(PrincipalRegistry.OBJECT_LABEL, good);
    HsmIntegrityException back = assertThrows(HsmIntegrityException.class, () -> node.refresh());
    assertTrue(back.getMessage().contains("went back"), back.getMessage());
    assertTrue(node.revoked(CAROL));
  }

  @Test
  @Order(6)
  void aRemovedRecord_isRefused_whileItsMacKeyIsInTheToken() throws Exception {
    removeTheRecordBehindTheKms();
    assertTrue(f.hsm.readDataObjects(PrincipalRegistry.OBJECT_LABEL).isEmpty());
    HsmIntegrityException e = assertThrows(HsmIntegrityException.class,
        () -> PrincipalRegistry.load(f.hsm));
    assertTrue(e.getMessage().contains("removed"), e.getMessage());
    assertThrows(HsmIntegrityException.class, () -> node.refresh());
    assertTrue(node.revoked(CAROL), "the last good state stays in force");
  }

  /** Deletes the record as someone with the PIN and a PKCS#11 tool would (pkcs11-tool). */
  void removeTheRecordBehindTheKms() throws Exception {
    ProcessBuilder pb = new ProcessBuilder("pkcs11-tool", "--module",
        f.token.module().toString(), "--token-label", f.token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN", "--delete-object", "--type", "data", "--label",
        PrincipalRegistry.OBJECT_LABEL).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", f.token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", f.token.userPinForTest());
    Process proc = pb.start();
    String out = new String(proc.getInputStream().readAllBytes());
    assertTrue(proc.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, proc.exitValue(), out);
  }
}
