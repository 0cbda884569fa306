package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.CAROL;
import static io.imskms.core.KmsFixture.VM_BOB;
import static io.imskms.core.KmsFixture.VM_CAROL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.Forge;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.UeClient;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.Btid;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import io.imskms.protocol.Wire;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The negative suite of issue 3: every attack is refused with its documented error code
 * (docs/protocol.md, "Error codes" and "What each check returns") and nothing else.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeferredDeliveryNegativeTest {
  private KmsFixture f;
  private Credential alice;
  private Credential bob;
  private Credential carol;
  private Credential vmBob;
  private Credential vmCarol;
  private ClientSession sa;
  private ClientSession sb;
  private ClientSession sc;
  private ClientSession sm;
  private ClientSession smc;

  /** A real SoftHSM2 token; {@link DeferredDeliveryNegativeOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
    alice = f.enrol(Role.UE, ALICE);
    bob = f.enrol(Role.UE, BOB);
    carol = f.enrol(Role.UE, CAROL);
    vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    vmCarol = f.enrol(Role.MAILBOX, VM_CAROL);
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  @BeforeEach
  void bootstrapEveryone() throws Exception {
    f.rebuild(DeferredDeliveryOptions.DEFAULTS);
    sa = f.bootstrap(alice);
    sb = f.bootstrap(bob);
    sc = f.bootstrap(carol);
    sm = f.bootstrap(vmBob);
    smc = f.bootstrap(vmCarol);
  }

  private static ErrorCode code(KmsCall call) {
    KmsException e = assertThrows(KmsException.class, call::run);
    assertArrayEquals(new byte[] {1, 0x7f, (byte) e.code().number()}, e.toErrorResponse());
    return e.code();
  }

  @FunctionalInterface
  interface KmsCall {
    void run() throws Exception;
  }

  private long now() {
    return f.clock.millis();
  }

  /** A genuine Figure 17 exchange up to the mailbox's request. */
  private MailboxClient.PendingKeyRequest genuineRequest(boolean e2m) throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    return f.mailbox.keyRequest(sm, o.offerBytes(), e2m);
  }

  private record Stored(byte[] offer, byte[] ticket) {}

  private Stored stored() throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    MailboxClient.Grant g = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes()));
    return new Stored(o.offerBytes(), g.ticket());
  }

  // ---- Figure 17 step 5 checks ----

  @Test
  void mailboxRequest_fromAnotherUsersMailbox_isWrongMailbox() throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(smc, o.offerBytes(), false);
    assertEquals(ErrorCode.WRONG_MAILBOX, code(() -> f.kms.mailboxKeyRequest(r.requestBytes())));
  }

  @Test
  void mailboxRequest_forUserWithoutMailbox_isUnknownPrincipal() throws Exception {
    UeClient.OutgoingOffer o = f.ue.offer(sa, "sip:dave@ims.example.com");
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), false);
    assertEquals(ErrorCode.UNKNOWN_PRINCIPAL,
        code(() -> f.kms.mailboxKeyRequest(r.requestBytes())));
  }

  @Test
  void ea_plainIdDiffersFromEncrypted_isIdentityMismatch() throws Exception {
    byte[] wrongB = Forge.offer(sa, ALICE, BOB, ALICE, CAROL, now());
    byte[] wrongA = Forge.offer(sa, ALICE, BOB, CAROL, BOB, now());
    for (byte[] offer : List.of(wrongB, wrongA)) {
      byte[] req = f.mailbox.keyRequest(sm, offer, false).requestBytes();
      assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.mailboxKeyRequest(req)));
    }
  }

  @Test
  void ea_plainIdAIsNotTheBtidOwner_isIdentityMismatch() throws Exception {
    // Alice's B-TID and key, but the plain and encrypted ID-A say Carol.
    byte[] offer = Forge.offer(sa, CAROL, BOB, CAROL, BOB, now());
    byte[] req = f.mailbox.keyRequest(sm, offer, false).requestBytes();
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.mailboxKeyRequest(req)));
  }

  @Test
  void em_plainIdDiffersFromEncrypted_isIdentityMismatch() throws Exception {
    byte[] offer = f.ue.offer(sa, BOB).offerBytes();
    byte[] wrongA = Forge.mailboxRequest(sm, offer, VM_BOB, CAROL, VM_BOB, now(), false);
    byte[] wrongBm = Forge.mailboxRequest(sm, offer, VM_BOB, ALICE, VM_CAROL, now(), false);
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.mailboxKeyRequest(wrongA)));
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.mailboxKeyRequest(wrongBm)));
  }

  @Test
  void em_plainIdBmIsNotTheBtidOwner_isNotAuthorised() throws Exception {
    byte[] offer = f.ue.offer(sa, BOB).offerBytes();
    byte[] req = Forge.mailboxRequest(smc, offer, VM_BOB, ALICE, VM_BOB, now(), false);
    assertEquals(ErrorCode.NOT_AUTHORISED, code(() -> f.kms.mailboxKeyRequest(req)));
  }

  @Test
  void mailboxRequest_withAUeBtid_isNotAuthorised() throws Exception {
    byte[] offer = f.ue.offer(sa, BOB).offerBytes();
    byte[] req = Forge.mailboxRequest(sc, offer, CAROL, ALICE, CAROL, now(), false);
    assertEquals(ErrorCode.NOT_AUTHORISED, code(() -> f.kms.mailboxKeyRequest(req)));
  }

  // ---- Figure 18 step 5 checks ----

  @Test
  void eb_plainIdDiffersFromEncrypted_isIdentityMismatch() throws Exception {
    Stored s = stored();
    byte[] wrongA = Forge.retrieval(sb, s.offer(), s.ticket(), CAROL, BOB, now());
    byte[] wrongB = Forge.retrieval(sb, s.offer(), s.ticket(), ALICE, CAROL, now());
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.retrieveMediaKey(wrongA)));
    assertEquals(ErrorCode.IDENTITY_MISMATCH, code(() -> f.kms.retrieveMediaKey(wrongB)));
  }

  @Test
  void retrieve_withTicketForAnotherUser_isNotAuthorised() throws Exception {
    Stored s = stored();
    // UE-C presents B's offer and ticket with its own B-TID.
    byte[] req = Forge.retrieval(sc, s.offer(), s.ticket(), ALICE, BOB, now());
    assertEquals(ErrorCode.NOT_AUTHORISED, code(() -> f.kms.retrieveMediaKey(req)));
    // The SDK does not even build it.
    assertThrows(ProtocolException.class, () -> f.ue.retrieval(sc, s.offer(), s.ticket()));
  }

  @Test
  void retrieve_byTheMailboxForItself_isNotAuthorised() throws Exception {
    Stored s = stored();
    byte[] req = Forge.retrieval(sm, s.offer(), s.ticket(), ALICE, BOB, now());
    assertEquals(ErrorCode.NOT_AUTHORISED, code(() -> f.kms.retrieveMediaKey(req)));
  }

  @Test
  void retrieve_withTicketOfAnotherOffer_isIntegrity() throws Exception {
    Stored s1 = stored();
    Stored s2 = stored();
    byte[] req = f.ue.retrieval(sb, s1.offer(), s2.ticket()).requestBytes();
    assertEquals(ErrorCode.INTEGRITY, code(() -> f.kms.retrieveMediaKey(req)));
  }

  @Test
  void retrieve_afterRetention_isExpiredTicket() throws Exception {
    Stored s = stored();
    f.clock.advance(Duration.ofDays(31));
    try {
      ClientSession fresh = f.bootstrap(bob);
      byte[] req = f.ue.retrieval(fresh, s.offer(), s.ticket()).requestBytes();
      assertEquals(ErrorCode.EXPIRED_TICKET, code(() -> f.kms.retrieveMediaKey(req)));
    } finally {
      f.clock.advance(Duration.ofDays(-31));
    }
  }

  @Test
  void expiredBtid_isRejectedInEveryFlow() throws Exception {
    Stored s = stored();
    f.clock.advance(Duration.ofHours(13));
    try {
      byte[] ret = f.ue.retrieval(sb, s.offer(), s.ticket()).requestBytes();
      assertEquals(ErrorCode.EXPIRED_BTID, code(() -> f.kms.retrieveMediaKey(ret)));
      byte[] mr = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), false)
          .requestBytes();
      assertEquals(ErrorCode.EXPIRED_BTID, code(() -> f.kms.mailboxKeyRequest(mr)));
    } finally {
      f.clock.advance(Duration.ofHours(-13));
    }
  }

  // ---- replay defence ----

  @Test
  void staleTimestamp_isRejectedInEveryFlow() throws Exception {
    Clock late = Clock.offset(f.clock, Duration.ofMinutes(-6));
    Bootstrapping lateBoot = new Bootstrapping(late, RandomSource.secure());
    UeClient lateUe = new UeClient(late, RandomSource.secure());
    MailboxClient lateMailbox = new MailboxClient(late, RandomSource.secure());
    byte[] boot = lateBoot.start(alice).requestBytes();
    assertEquals(ErrorCode.STALE_TIMESTAMP, code(() -> f.kms.bootstrap(boot)));
    byte[] staleEm = lateMailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), false)
        .requestBytes();
    assertEquals(ErrorCode.STALE_TIMESTAMP, code(() -> f.kms.mailboxKeyRequest(staleEm)));
    byte[] staleEa = f.mailbox.keyRequest(sm, lateUe.offer(sa, BOB).offerBytes(), false)
        .requestBytes();
    assertEquals(ErrorCode.STALE_TIMESTAMP, code(() -> f.kms.mailboxKeyRequest(staleEa)));
    Stored s = stored();
    byte[] staleEb = lateUe.retrieval(sb, s.offer(), s.ticket()).requestBytes();
    assertEquals(ErrorCode.STALE_TIMESTAMP, code(() -> f.kms.retrieveMediaKey(staleEb)));
  }

  @Test
  void replayedRequest_isRejectedInEveryFlow() throws Exception {
    byte[] boot = f.bootstrapping.start(alice).requestBytes();
    f.kms.bootstrap(boot);
    assertEquals(ErrorCode.REPLAY, code(() -> f.kms.bootstrap(boot)));

    byte[] mr = genuineRequest(false).requestBytes();
    f.kms.mailboxKeyRequest(mr);
    assertEquals(ErrorCode.REPLAY, code(() -> f.kms.mailboxKeyRequest(mr)));

    // The same offer (same nonceA) in a new mailbox request is a replay of UE-A's request.
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    f.kms.mailboxKeyRequest(f.mailbox.keyRequest(sm, o.offerBytes(), false).requestBytes());
    byte[] again = f.mailbox.keyRequest(sm, o.offerBytes(), false).requestBytes();
    assertEquals(ErrorCode.REPLAY, code(() -> f.kms.mailboxKeyRequest(again)));

    Stored s = stored();
    byte[] ret = f.ue.retrieval(sb, s.offer(), s.ticket()).requestBytes();
    f.kms.retrieveMediaKey(ret);
    assertEquals(ErrorCode.REPLAY, code(() -> f.kms.retrieveMediaKey(ret)));
    // A second, fresh retrieval of the same message is fine (UE-B may fetch again).
    f.kms.retrieveMediaKey(f.ue.retrieval(sb, s.offer(), s.ticket()).requestBytes());
  }

  // ---- answers bound to their requests ----

  @Test
  void swappedAnswers_areRefusedByTheClients() throws Exception {
    MailboxClient.PendingKeyRequest r1 = genuineRequest(true);
    MailboxClient.PendingKeyRequest r2 = genuineRequest(true);
    byte[] a1 = f.kms.mailboxKeyRequest(r1.requestBytes());
    f.kms.mailboxKeyRequest(r2.requestBytes());
    assertEquals(ErrorCode.INTEGRITY,
        assertThrows(ProtocolException.class, () -> f.mailbox.openResponse(r2, a1)).code());

    UeClient.OutgoingOffer o1 = f.ue.offer(sa, BOB);
    UeClient.OutgoingOffer o2 = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest q1 = f.mailbox.keyRequest(sm, o1.offerBytes(), true);
    MailboxClient.Grant g1 = f.mailbox.openResponse(q1, f.kms.mailboxKeyRequest(
        q1.requestBytes()));
    assertEquals(ErrorCode.INTEGRITY, assertThrows(ProtocolException.class,
        () -> f.ue.openDelivery(o2, g1.deliveryForUeA(), VM_BOB)).code());
    // The mailbox knows Ke2m; passing Ke2m's blob off as K's fails.
    byte[] d = g1.deliveryForUeA();
    byte[] swapped = d.clone();
    System.arraycopy(d, 3 + 40, swapped, 3, 40);
    System.arraycopy(d, 3, swapped, 3 + 40, 40);
    assertEquals(ErrorCode.INTEGRITY, assertThrows(ProtocolException.class,
        () -> f.ue.openDelivery(o1, swapped, VM_BOB)).code());

    Stored s = stored();
    UeClient.PendingRetrieval p1 = f.ue.retrieval(sb, s.offer(), s.ticket());
    UeClient.PendingRetrieval p2 = f.ue.retrieval(sb, s.offer(), s.ticket());
    byte[] ans1 = f.kms.retrieveMediaKey(p1.requestBytes());
    assertEquals(ErrorCode.INTEGRITY,
        assertThrows(ProtocolException.class, () -> f.ue.openRetrieval(p2, ans1)).code());
  }

  @Test
  void bootstrapAnswer_fromAnImpostor_isRefused() throws Exception {
    // An impostor without Kp cannot make autn: take a genuine answer to another request.
    Bootstrapping.Pending p1 = f.bootstrapping.start(alice);
    Bootstrapping.Pending p2 = f.bootstrapping.start(alice);
    byte[] a1 = f.kms.bootstrap(p1.requestBytes());
    assertEquals(ErrorCode.INTEGRITY,
        assertThrows(ProtocolException.class, () -> f.bootstrapping.finish(p2, a1)).code());
  }

  // ---- key versions, principals, credentials ----

  @Test
  void unknownKeyVersion_inBootstrapBtidAndTicket_isUnknownKeyVersion() throws Exception {
    Credential v7 = new Credential(Role.UE, ALICE, 7, Forge.kp(alice));
    byte[] boot = f.bootstrapping.start(v7).requestBytes();
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION, code(() -> f.kms.bootstrap(boot)));

    Stored s = stored();
    Ticket t = Ticket.decode(s.ticket());
    byte[] t9 = new Ticket(t.idA(), t.idB(), t.idBm(), t.offerHash(), t.notAfterMs(), 9,
        t.mediaRootVersion(), t.wrappedKa()).encode();
    byte[] req = Forge.retrieval(sb, s.offer(), t9, ALICE, BOB, now());
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION, code(() -> f.kms.retrieveMediaKey(req)));

    Btid b = sm.btid();
    Btid b9 = new Btid(b.role(), b.id(), b.rand(), b.notAfterMs(), b.credVersion(), 9, b.tag());
    byte[] mr = genuineRequest(false).requestBytes();
    byte[] mr9 = replaceFirst(mr, b.encode(), b9.encode());
    assertEquals(ErrorCode.UNKNOWN_KEY_VERSION, code(() -> f.kms.mailboxKeyRequest(mr9)));
  }

  @Test
  void enrolmentCredentialOfAnotherPrincipal_isRefused() throws Exception {
    // Carol's Kp used to bootstrap as Bob: the proof does not verify.
    Credential fake = new Credential(Role.UE, BOB, 1, Forge.kp(carol));
    byte[] boot = f.bootstrapping.start(fake).requestBytes();
    assertEquals(ErrorCode.INTEGRITY, code(() -> f.kms.bootstrap(boot)));
    // A UE's Kp used to bootstrap as a mailbox role.
    Credential asMailbox = new Credential(Role.MAILBOX, VM_BOB, 1, Forge.kp(bob));
    byte[] boot2 = f.bootstrapping.start(asMailbox).requestBytes();
    assertEquals(ErrorCode.INTEGRITY, code(() -> f.kms.bootstrap(boot2)));
    // A credential file made for Carol's device, opened by a device enrolling as Bob.
    DeviceEnrolment carolDevice = new DeviceEnrolment(Role.UE, CAROL);
    byte[] carolFile = f.enrolment.enrol(carolDevice.requestBytes());
    DeviceEnrolment bobDevice = new DeviceEnrolment(Role.UE, BOB);
    assertEquals(ErrorCode.IDENTITY_MISMATCH,
        assertThrows(ProtocolException.class, () -> bobDevice.open(carolFile)).code());
    // ... or by another device enrolling as Carol (another private key): the unwrap fails.
    DeviceEnrolment otherCarol = new DeviceEnrolment(Role.UE, CAROL);
    assertEquals(ErrorCode.INTEGRITY,
        assertThrows(ProtocolException.class, () -> otherCarol.open(carolFile)).code());
  }

  @Test
  void unknownPrincipal_mailboxNotInDirectory_isRefusedAtEnrolmentAndBootstrap()
      throws Exception {
    DeviceEnrolment d = new DeviceEnrolment(Role.MAILBOX, "sip:vm.eve@ims.example.com");
    assertEquals(ErrorCode.UNKNOWN_PRINCIPAL, code(() -> f.enrolment.enrol(d.requestBytes())));
    DeviceEnrolment ueAsMailbox = new DeviceEnrolment(Role.UE, VM_BOB);
    assertEquals(ErrorCode.UNKNOWN_PRINCIPAL,
        code(() -> f.enrolment.enrol(ueAsMailbox.requestBytes())));
    Credential eve = new Credential(Role.MAILBOX, "sip:vm.eve@ims.example.com", 1,
        Forge.kp(vmBob));
    byte[] boot = f.bootstrapping.start(eve).requestBytes();
    assertEquals(ErrorCode.UNKNOWN_PRINCIPAL, code(() -> f.kms.bootstrap(boot)));
  }

  // ---- encoding ----

  @Test
  void truncatedAndOversizeMessages_areMalformed() throws Exception {
    Stored s = stored();
    List<byte[]> genuine = List.of(
        f.bootstrapping.start(alice).requestBytes(),
        genuineRequest(true).requestBytes(),
        f.ue.retrieval(sb, s.offer(), s.ticket()).requestBytes());
    List<String> failures = new ArrayList<>();
    for (int m = 0; m < genuine.size(); m++) {
      byte[] g = genuine.get(m);
      for (int len = 0; len < g.length; len++) {
        expectMalformed(m, Arrays.copyOf(g, len), "truncated to " + len, failures);
      }
      expectMalformed(m, Arrays.copyOf(g, g.length + 1), "one trailing byte", failures);
    }
    // A length prefix larger than the field's maximum.
    byte[] btid = sb.btidBytes();
    byte[] big = new byte[2 + 1 + 2 + Wire.MAX_BTID + 1];
    big[0] = 1;
    big[1] = Wire.T_RETRIEVAL_REQUEST;
    big[2] = (byte) ((Wire.MAX_BTID + 1) >> 8);
    big[3] = (byte) (Wire.MAX_BTID + 1);
    expectMalformed(2, big, "oversize B-TID field", failures);
    assertTrue(btid.length < Wire.MAX_BTID);
    // An identity of 256 bytes.
    String longId = "sip:" + "a".repeat(240) + "@ims.example.com";
    assertThrows(ProtocolException.class, () -> io.imskms.protocol.Identity.normalise(longId));
    assertEquals(List.of(), failures);
  }

  private void expectMalformed(int m, byte[] b, String what, List<String> failures) {
    try {
      switch (m) {
        case 0 -> f.kms.bootstrap(b);
        case 1 -> f.kms.mailboxKeyRequest(b);
        default -> f.kms.retrieveMediaKey(b);
      }
      failures.add(m + ": " + what + " accepted");
    } catch (KmsException e) {
      if (e.code() != ErrorCode.MALFORMED) {
        failures.add(m + ": " + what + " gave " + e.code());
      }
    }
  }

  /**
   * One bit flipped in every byte of every message: always refused, with the code that
   * docs/protocol.md section 9.1 gives for that byte. Where the table gives one code (lengths,
   * version, type, flags, identities, IVs, ciphertexts, nonces, timestamps, proofs), exactly that
   * code; only inside B-TIDs and tickets, where it depends on which field of them changed, one of
   * INTEGRITY / UNKNOWN_KEY_VERSION / MALFORMED.
   */
  @Test
  void bitFlipInEveryByteOfEveryMessage_isRefusedWithItsDocumentedCode() throws Exception {
    List<String> failures = new ArrayList<>();

    // Figure 17: mailbox request (contains the B-TIDs of M and A, Ea and Em).
    byte[] sample = genuineRequest(true).requestBytes();
    io.imskms.protocol.MailboxKeyRequest mr = io.imskms.protocol.MailboxKeyRequest.decode(sample);
    io.imskms.protocol.Offer mo = io.imskms.protocol.Offer.decode(mr.offer());
    ErrorCode[] fig17 = new Expect(sample.length)
        .fixed(2, ErrorCode.MALFORMED) // version, type
        .fixed(1, ErrorCode.INTEGRITY) // flags 1 -> 0: a known value, but Em's AAD changed
        .identity(VM_BOB, ErrorCode.NOT_AUTHORISED) // the plain ID-Bm
        .lengthPrefix().btidOrTicket(sm.btidBytes().length)
        .lengthPrefix().offer(mo, ErrorCode.INTEGRITY, ErrorCode.INTEGRITY, sa.btidBytes().length)
        .fixed(Wire.IV_LEN, ErrorCode.INTEGRITY).lengthPrefix()
        .fixed(mr.ciphertext().length, ErrorCode.INTEGRITY).done();
    for (int i = 0; i < sample.length; i++) {
      byte[] req = genuineRequest(true).requestBytes();
      req[i] ^= 0x01;
      check("fig17[" + i + "]", () -> f.kms.mailboxKeyRequest(req), fig17[i], failures);
    }
    // Figure 18: retrieval request (B-TID of B, offer with Ea, ticket, Eb).
    Stored s = stored();
    sample = f.ue.retrieval(sb, s.offer(), s.ticket()).requestBytes();
    io.imskms.protocol.RetrievalRequest rr = io.imskms.protocol.RetrievalRequest.decode(sample);
    ErrorCode[] fig18 = new Expect(sample.length)
        .fixed(2, ErrorCode.MALFORMED)
        .lengthPrefix().btidOrTicket(sb.btidBytes().length)
        // The offer's ID-A: Eb's AAD; its ID-B: no longer the caller.
        .lengthPrefix().offer(io.imskms.protocol.Offer.decode(s.offer()), ErrorCode.INTEGRITY,
            ErrorCode.NOT_AUTHORISED, sa.btidBytes().length)
        .lengthPrefix().btidOrTicket(s.ticket().length)
        .fixed(Wire.IV_LEN, ErrorCode.INTEGRITY).lengthPrefix()
        .fixed(rr.ciphertext().length, ErrorCode.INTEGRITY).done();
    for (int i = 0; i < sample.length; i++) {
      byte[] req = f.ue.retrieval(sb, s.offer(), s.ticket()).requestBytes();
      req[i] ^= 0x01;
      check("fig18[" + i + "]", () -> f.kms.retrieveMediaKey(req), fig18[i], failures);
    }
    // Bootstrap request: version, type, role, ID, credVersion, nonce, timestamp, proof.
    sample = f.bootstrapping.start(alice).requestBytes();
    ErrorCode[] boot = new Expect(sample.length)
        .fixed(2, ErrorCode.MALFORMED)
        .fixed(1, ErrorCode.MALFORMED) // role UE (1) -> 0, no such role
        .identity(ALICE, ErrorCode.INTEGRITY)
        .version(1)
        .fixed(Wire.NONCE_LEN + 8 + Wire.MAC_LEN, ErrorCode.INTEGRITY).done();
    for (int i = 0; i < sample.length; i++) {
      byte[] req = f.bootstrapping.start(alice).requestBytes();
      req[i] ^= 0x01;
      check("bootstrap[" + i + "]", () -> f.kms.bootstrap(req), boot[i], failures);
    }
    assertEquals(List.of(), failures);
  }

  /**
   * The documented code of a bit flip (bit 0) at each byte of a message, field by field in wire
   * order; null inside a B-TID or a ticket.
   */
  private static final class Expect {
    private final ErrorCode[] codes;
    private int at;

    Expect(int length) {
      codes = new ErrorCode[length];
    }

    Expect fixed(int len, ErrorCode c) {
      Arrays.fill(codes, at, at + len, c);
      at += len;
      return this;
    }

    /** A u16 length: any change makes the structure not parse. */
    Expect lengthPrefix() {
      return fixed(2, ErrorCode.MALFORMED);
    }

    /** A B-TID or a ticket: INTEGRITY, UNKNOWN_KEY_VERSION or MALFORMED by inner field. */
    Expect btidOrTicket(int len) {
      at += len;
      return this;
    }

    /** An identity: MALFORMED if the flip leaves it not normal, else {@code ifNormal}. */
    Expect identity(String id, ErrorCode ifNormal) {
      lengthPrefix();
      byte[] b = id.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      for (int j = 0; j < b.length; j++) {
        byte[] flipped = b.clone();
        flipped[j] ^= 0x01;
        String x = new String(flipped, java.nio.charset.StandardCharsets.UTF_8);
        codes[at + j] = io.imskms.protocol.Identity.isNormal(x) ? ifNormal : ErrorCode.MALFORMED;
      }
      at += b.length;
      return this;
    }

    /** A u32 key version: out of 1..2^31-1 is MALFORMED, else a version not held. */
    Expect version(long value) {
      for (int j = 0; j < 4; j++) {
        long flipped = value ^ (1L << (8 * (3 - j)));
        codes[at + j] = flipped >= 1 && flipped <= Integer.MAX_VALUE
            ? ErrorCode.UNKNOWN_KEY_VERSION : ErrorCode.MALFORMED;
      }
      at += 4;
      return this;
    }

    /** An offer inside a request: its IDs, its B-TID, IV and Ea (all in the request's AAD). */
    Expect offer(io.imskms.protocol.Offer o, ErrorCode idA, ErrorCode idB, int btidLen) {
      return fixed(2, ErrorCode.MALFORMED).identity(o.idA(), idA).identity(o.idB(), idB)
          .lengthPrefix().btidOrTicket(btidLen).fixed(Wire.IV_LEN, ErrorCode.INTEGRITY)
          .lengthPrefix().fixed(o.ciphertext().length, ErrorCode.INTEGRITY);
    }

    ErrorCode[] done() {
      assertEquals(codes.length, at, "the layout covers the whole message");
      return codes;
    }
  }

  private static void check(String what, KmsCall call, ErrorCode expected,
      List<String> failures) {
    Set<ErrorCode> ok = expected != null ? EnumSet.of(expected)
        : EnumSet.of(ErrorCode.INTEGRITY, ErrorCode.UNKNOWN_KEY_VERSION, ErrorCode.MALFORMED);
    try {
      call.run();
      failures.add(what + " accepted");
    } catch (KmsException e) {
      if (!ok.contains(e.code())) {
        failures.add(what + " gave " + e.code() + ", expected " + ok);
      }
    } catch (Exception e) {
      failures.add(what + " threw " + e.getClass().getSimpleName());
    }
  }

  static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  static byte[] replaceFirst(byte[] hay, byte[] from, byte[] to) {
    int at = indexOf(hay, from);
    assertTrue(at >= 0 && from.length == to.length);
    byte[] out = hay.clone();
    System.arraycopy(to, 0, out, at, to.length);
    return out;
  }

  @Test
  void bootstrapRequestTypes_areCheckedOnDecode() {
    byte[] b = new BootstrapRequest(Role.UE, ALICE, 1, new byte[16], 0, new byte[32]).encode();
    b[1] = 0x02;
    assertEquals(ErrorCode.MALFORMED,
        assertThrows(ProtocolException.class, () -> BootstrapRequest.decode(b)).code());
  }
}
