package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static io.imskms.core.KmsFixture.VM_CAROL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.HsmUnavailableException;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * docs/protocol.md section 8: a request that fails for a reason on the server's side (HSM
 * unavailable, internal fault) after its nonces were recorded gives them back, so the very same
 * request is served when sent again; a request that fails authentication never touches the
 * replay cache; a request refused for the client's own doing keeps its nonces.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServerFaultNonceTest {
  private KmsFixture f;
  private CountingHsm faulty;
  private DeferredDeliveryService kms;
  private Credential alice;
  private Credential bob;
  private Credential vmBob;
  private Credential vmCarol;
  private ClientSession sa;
  private ClientSession sb;
  private ClientSession sm;

  /** A real SoftHSM2 token; {@link ServerFaultNonceOnSoftwareHsmTest} runs the same cases on
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
    vmCarol = f.enrol(Role.MAILBOX, VM_CAROL);
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  @BeforeEach
  void freshKms() throws Exception {
    f.rebuild(DeferredDeliveryOptions.DEFAULTS);
    faulty = new CountingHsm(f.hsm);
    kms = new DeferredDeliveryService(faulty, f.keys, new KmsBootstrapper(f.keys, f.replay,
        f.directory, f.clock, DeferredDeliveryOptions.DEFAULTS.btidLifetime(),
        ServerRandom.HSM), f.directory, f.replay, f.clock, DeferredDeliveryOptions.DEFAULTS);
    sa = f.bootstrap(alice);
    sb = f.bootstrap(bob);
    sm = f.bootstrap(vmBob);
  }

  private static ErrorCode code(KmsCall call) {
    return assertThrows(KmsException.class, call::run).code();
  }

  @FunctionalInterface
  interface KmsCall {
    void run() throws Exception;
  }

  private static HsmException unavailable() {
    return new HsmUnavailableException("injected: token gone");
  }

  // ---- server-side failures give the nonces back ----

  @Test
  void mailboxKeyRequest_hsmUnavailableAtTheLastStep_sameRequestSucceedsOnRetry()
      throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), true);
    int before = f.replay.size();
    // The response MAC (Fig 17 step 16) is the last HSM operation: both nonces are recorded.
    faulty.failNext("sign", unavailable());
    assertEquals(ErrorCode.HSM_UNAVAILABLE, code(() -> kms.mailboxKeyRequest(r.requestBytes())));
    assertEquals(before, f.replay.size(), "nonceM and nonceA given back");

    MailboxClient.Grant g = f.mailbox.openResponse(r, kms.mailboxKeyRequest(r.requestBytes()));
    assertEquals(before + 2, f.replay.size());
    SecretBytes k = f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB).mediaKey();
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
    assertTrue(k.equalContents(f.ue.openRetrieval(pr, kms.retrieveMediaKey(pr.requestBytes()))));
    // Served once, it is a replay again.
    assertEquals(ErrorCode.REPLAY, code(() -> kms.mailboxKeyRequest(r.requestBytes())));
    assertEquals(0, f.leftoverSessionObjects());
  }

  @Test
  void mailboxKeyRequest_storedOfferAfterInternalFaultAtTicket_canStillGetAKey()
      throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    // The mailbox's first request meets a fault while the ticket is wrapped (the second wrap).
    MailboxClient.PendingKeyRequest r1 = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    faulty.failAt("wrap", 2, new HsmPolicyException("injected policy fault"));
    assertEquals(ErrorCode.INTERNAL, code(() -> kms.mailboxKeyRequest(r1.requestBytes())));
    // The stored offer (nonceA) is still usable, in a new mailbox request (new nonceM).
    MailboxClient.PendingKeyRequest r2 = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    MailboxClient.Grant g = f.mailbox.openResponse(r2, kms.mailboxKeyRequest(r2.requestBytes()));
    assertTrue(f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB).mediaKey() != null);
  }

  @Test
  void retrieval_hsmUnavailableAtTheLastStep_sameRequestSucceedsOnRetry() throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    MailboxClient.Grant g = f.mailbox.openResponse(r, kms.mailboxKeyRequest(r.requestBytes()));
    SecretBytes k = f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB).mediaKey();
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
    int before = f.replay.size();
    // KW(KEK_B, K) is the only wrap of Figure 18 and its last HSM operation.
    faulty.failNext("wrap", unavailable());
    assertEquals(ErrorCode.HSM_UNAVAILABLE, code(() -> kms.retrieveMediaKey(pr.requestBytes())));
    assertEquals(before, f.replay.size(), "nonceB given back");
    assertTrue(k.equalContents(f.ue.openRetrieval(pr, kms.retrieveMediaKey(pr.requestBytes()))));
    assertEquals(ErrorCode.REPLAY, code(() -> kms.retrieveMediaKey(pr.requestBytes())));
  }

  @Test
  void bootstrap_hsmUnavailableAfterTheReplayCheck_sameRequestSucceedsOnRetry()
      throws Exception {
    Bootstrapping.Pending p = f.bootstrapping.start(alice);
    int before = f.replay.size();
    // C_GenerateRandom for RAND comes right after the replay check.
    faulty.failNext("random", unavailable());
    assertEquals(ErrorCode.HSM_UNAVAILABLE, code(() -> kms.bootstrap(p.requestBytes())));
    assertEquals(before, f.replay.size());
    faulty.failNext("sign", unavailable()); // the B-TID tag
    assertEquals(ErrorCode.HSM_UNAVAILABLE, code(() -> kms.bootstrap(p.requestBytes())));
    assertEquals(before, f.replay.size());
    assertTrue(f.bootstrapping.finish(p, kms.bootstrap(p.requestBytes())) != null);
    assertEquals(ErrorCode.REPLAY, code(() -> kms.bootstrap(p.requestBytes())));
  }

  // ---- client-side failures after authentication keep the nonces ----

  @Test
  void mailboxKeyRequest_refusedForTheClientsOwnDoing_keepsItsNonce() throws Exception {
    // vm.carol is authenticated, but is not Bob's mailbox: WRONG_MAILBOX after nonceM was
    // recorded; the same request again is a replay.
    ClientSession smc = f.bootstrap(vmCarol);
    byte[] req = f.mailbox.keyRequest(smc, f.ue.offer(sa, BOB).offerBytes(), false)
        .requestBytes();
    assertEquals(ErrorCode.WRONG_MAILBOX, code(() -> kms.mailboxKeyRequest(req)));
    assertEquals(ErrorCode.REPLAY, code(() -> kms.mailboxKeyRequest(req)));
  }

  // ---- unauthenticated requests never touch the cache ----

  @Test
  void bootstrap_badProofWithNonceN_thenGenuineWithNonceN_isServed() throws Exception {
    Bootstrapping.Pending p = f.bootstrapping.start(alice);
    byte[] bad = p.requestBytes().clone();
    bad[bad.length - 1] ^= 0x01; // the proof
    int before = f.replay.size();
    assertEquals(ErrorCode.INTEGRITY, code(() -> kms.bootstrap(bad)));
    assertEquals(before, f.replay.size());
    assertTrue(f.bootstrapping.finish(p, kms.bootstrap(p.requestBytes())) != null);
    assertEquals(before + 1, f.replay.size());
  }

  @Test
  void mailboxKeyRequest_badEmWithNonceN_thenGenuineWithNonceN_isServed() throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    byte[] bad = r.requestBytes().clone();
    bad[bad.length - 1] ^= 0x01; // Em's GCM tag: same nonceM inside, not authentic
    int before = f.replay.size();
    assertEquals(ErrorCode.INTEGRITY, code(() -> kms.mailboxKeyRequest(bad)));
    assertEquals(before, f.replay.size());
    f.mailbox.openResponse(r, kms.mailboxKeyRequest(r.requestBytes()));
    assertEquals(before + 2, f.replay.size());
  }

  @Test
  void retrieval_badEbWithNonceN_thenGenuineWithNonceN_isServed() throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    MailboxClient.Grant g = f.mailbox.openResponse(r, kms.mailboxKeyRequest(r.requestBytes()));
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
    byte[] bad = pr.requestBytes().clone();
    bad[bad.length - 1] ^= 0x01; // Eb's GCM tag
    int before = f.replay.size();
    assertEquals(ErrorCode.INTEGRITY, code(() -> kms.retrieveMediaKey(bad)));
    assertEquals(before, f.replay.size());
    f.ue.openRetrieval(pr, kms.retrieveMediaKey(pr.requestBytes()));
    assertEquals(before + 1, f.replay.size());
  }
}
