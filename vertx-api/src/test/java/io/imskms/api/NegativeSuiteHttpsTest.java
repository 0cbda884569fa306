package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static io.imskms.api.TestKms.ALICE;
import static io.imskms.api.TestKms.BOB;
import static io.imskms.api.TestKms.CAROL;
import static io.imskms.api.TestKms.VM_BOB;
import static io.imskms.api.TestKms.VM_CAROL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms.Delivery;
import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.Forge;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.UeClient;
import io.imskms.core.MutableClock;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.Btid;
import io.imskms.protocol.IdPairSecret;
import io.imskms.protocol.Identity;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.Offer;
import io.imskms.protocol.OfferSecret;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import io.imskms.protocol.Wire;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.junit5.VertxExtension;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The protocol's negative suite (kms-core's {@code DeferredDeliveryNegativeTest}) at the HTTP
 * level, over real HTTPS against kms-core on SoftHSM2: each refusal with its status and problem
 * code (docs/api.md, docs/protocol.md section 9), and nothing else revealed
 * ({@link Problem#assertProblem}). One representative bit flip per field here; the sweep over
 * every byte stays in kms-core. Cases already in {@link DeferredDeliveryHttpsTest} (replay,
 * tampered Em ciphertext / ticket / proof, wrong mailbox, unenrolled UE, retrieval by UE-C or the
 * mailbox with a zero Eb) are not repeated. The server's clock is a {@link MutableClock} shared
 * with the client SDK, so expiry is reached without waiting. After the suite a valid flow still
 * succeeds and no HSM session object is left behind.
 */
@ExtendWith(VertxExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NegativeSuiteHttpsTest {
  private static final String KEY_REQUEST = "/v1/deferred/key-request";
  private static final String RETRIEVE = "/v1/deferred/retrieve";
  private static final String BOOTSTRAP = "/v1/bootstrap";
  private static final Duration BTID_LIFETIME = Duration.ofHours(1);
  private static final Duration TICKET_RETENTION = Duration.ofDays(1);
  private static final Duration WINDOW = Duration.ofMinutes(5);

  private static MutableClock clock;
  private static TestKms kms;
  private static TestKms.Principals p;
  private static long sessionObjectsAtStart;

  private ClientSession sa;
  private ClientSession sb;
  private ClientSession sc;
  private ClientSession sm;

  @BeforeAll
  static void start() throws Exception {
    clock = new MutableClock(System.currentTimeMillis());
    kms = TestKms.start(env -> {
      env.put("KMS_CORE_BTID_LIFETIME_SECONDS", Long.toString(BTID_LIFETIME.toSeconds()));
      env.put("KMS_CORE_TICKET_RETENTION_SECONDS", Long.toString(TICKET_RETENTION.toSeconds()));
      env.put("KMS_CORE_REPLAY_WINDOW_SECONDS", Long.toString(WINDOW.toSeconds()));
    }, clock);
    p = kms.enrolAll();
    sessionObjectsAtStart = kms.leftoverSessionObjects();
  }

  @AfterAll
  static void stop() {
    if (kms != null) {
      kms.close();
    }
  }

  @BeforeEach
  void bootstrapEveryone() throws Exception {
    sa = kms.bootstrap(kms.ue, p.alice());
    sb = kms.bootstrap(kms.ue, p.bob());
    sc = kms.bootstrap(kms.ue, p.carol());
    sm = kms.bootstrap(kms.vmBob, p.vmBob());
  }

  // ---- helpers ----

  private static long now() {
    return clock.millis();
  }

  private static HttpResponse<Buffer> post(WebClient c, String path, JsonObject body) {
    return kms.post(c, path, body);
  }

  /** vm.bob (its client certificate) sends a binary key request. */
  private static HttpResponse<Buffer> keyRequest(byte[] request) throws Exception {
    return post(kms.vmBob, KEY_REQUEST, JsonMessages.toJson(MailboxKeyRequest.decode(request)));
  }

  private static HttpResponse<Buffer> retrieve(byte[] request) throws Exception {
    return post(kms.ue, RETRIEVE, JsonMessages.toJson(RetrievalRequest.decode(request)));
  }

  private static HttpResponse<Buffer> bootstrap(WebClient c, byte[] request) throws Exception {
    return post(c, BOOTSTRAP, JsonMessages.toJson(BootstrapRequest.decode(request)));
  }

  /** The JSON of a genuine key request of vm.bob for a fresh offer of alice's. */
  private JsonObject genuineKeyRequest() throws Exception {
    byte[] offer = kms.ueSdk.offer(sa, BOB).offerBytes();
    return JsonMessages.toJson(MailboxKeyRequest.decode(
        kms.mailboxSdk.keyRequest(sm, offer, false).requestBytes()));
  }

  /** The JSON of a genuine retrieval request of bob for a stored message. */
  private JsonObject genuineRetrieval(Delivery d) throws Exception {
    return JsonMessages.toJson(RetrievalRequest.decode(kms.ueSdk.retrieval(sb,
        d.offer().offerBytes(), d.grant().ticket()).requestBytes()));
  }

  /** Bob retrieves with Eb sealed (by the SDK) over this offer and ticket. */
  private HttpResponse<Buffer> retrieveSealed(byte[] offer, byte[] ticket) throws Exception {
    return retrieve(Forge.retrieval(sb, offer, ticket, ALICE, BOB, now()));
  }

  /** vm.bob asks for the key of this offer with Em sealed (by the SDK) over it. */
  private HttpResponse<Buffer> keyRequestSealed(byte[] offer) throws Exception {
    return keyRequest(kms.mailboxSdk.keyRequest(sm, offer, false).requestBytes());
  }

  private static byte[] flip(byte[] b, int i) {
    byte[] c = b.clone();
    c[i] ^= 0x01;
    return c;
  }

  /** The base64url binary member {@code field} of {@code json}, changed by {@code f}. */
  private static JsonObject with(JsonObject json, String field, UnaryOperator<byte[]> f) {
    byte[] b = java.util.Base64.getUrlDecoder().decode(json.getString(field));
    return json.copy().put(field, JsonMessages.b64(f.apply(b)));
  }

  /** An identity with bit 0 of its byte at {@code i} flipped; asserted to stay in normal form. */
  private static String flipId(String id, int i) {
    byte[] b = flip(id.getBytes(StandardCharsets.UTF_8), i);
    String x = new String(b, StandardCharsets.UTF_8);
    assertTrue(Identity.isNormal(x), x);
    return x;
  }

  private static Offer offer(byte[] b) throws Exception {
    return Offer.decode(b);
  }

  // ---- plain identities differ from the encrypted ones ----

  @Test
  void ea_idAOrIdBDiffersFromThePlainOne_is403IdentityMismatch() throws Exception {
    // Ea says carol where the plain ID-B says bob, and the other way round for ID-A.
    assertProblem(keyRequestSealed(Forge.offer(sa, ALICE, BOB, ALICE, CAROL, now())), 403,
        "IDENTITY_MISMATCH");
    assertProblem(keyRequestSealed(Forge.offer(sa, ALICE, BOB, CAROL, BOB, now())), 403,
        "IDENTITY_MISMATCH");
    // Plain and Ea agree on carol, but UE-A's B-TID is alice's.
    assertProblem(keyRequestSealed(Forge.offer(sa, CAROL, BOB, CAROL, BOB, now())), 403,
        "IDENTITY_MISMATCH");
  }

  @Test
  void em_idAOrIdBmDiffersFromThePlainOne_is403IdentityMismatch() throws Exception {
    byte[] offer = kms.ueSdk.offer(sa, BOB).offerBytes();
    assertProblem(keyRequest(Forge.mailboxRequest(sm, offer, VM_BOB, CAROL, VM_BOB, now(),
        false)), 403, "IDENTITY_MISMATCH");
    assertProblem(keyRequest(Forge.mailboxRequest(sm, offer, VM_BOB, ALICE, VM_CAROL, now(),
        false)), 403, "IDENTITY_MISMATCH");
  }

  @Test
  void eb_idAOrIdBDiffersFromThePlainOne_is403IdentityMismatch() throws Exception {
    Delivery d = kms.deliver(p, false);
    byte[] offer = d.offer().offerBytes();
    byte[] ticket = d.grant().ticket();
    assertProblem(retrieve(Forge.retrieval(sb, offer, ticket, CAROL, BOB, now())), 403,
        "IDENTITY_MISMATCH");
    assertProblem(retrieve(Forge.retrieval(sb, offer, ticket, ALICE, CAROL, now())), 403,
        "IDENTITY_MISMATCH");
  }

  // ---- one bit flipped in each field ----

  @Test
  void bitFlipInEachFieldOfEa_theOffer() throws Exception {
    // Em sealed by the mailbox over the altered offer, so that the KMS reaches Ea's checks.
    Offer o = offer(kms.ueSdk.offer(sa, BOB).offerBytes());
    // Plain ID-A: no longer the owner of UE-A's B-TID.
    assertProblem(keyRequestSealed(new Offer(flipId(o.idA(), 4), o.idB(), o.btidA(), o.iv(),
        o.ciphertext()).encode()), 403, "IDENTITY_MISMATCH");
    // Plain ID-B: "sip:cob@...", a user of no mailbox.
    assertProblem(keyRequestSealed(new Offer(o.idA(), flipId(o.idB(), 4), o.btidA(), o.iv(),
        o.ciphertext()).encode()), 403, "UNKNOWN_PRINCIPAL");
    // UE-A's B-TID (a byte of RAND): its tag.
    int rand = 2 + 1 + 2 + ALICE.length();
    assertProblem(keyRequestSealed(new Offer(o.idA(), o.idB(), flip(o.btidA(), rand), o.iv(),
        o.ciphertext()).encode()), 401, "INTEGRITY");
    // IV, ciphertext, tag of Ea.
    o = offer(kms.ueSdk.offer(sa, BOB).offerBytes());
    assertProblem(keyRequestSealed(new Offer(o.idA(), o.idB(), o.btidA(), flip(o.iv(), 0),
        o.ciphertext()).encode()), 401, "INTEGRITY");
    o = offer(kms.ueSdk.offer(sa, BOB).offerBytes());
    assertProblem(keyRequestSealed(new Offer(o.idA(), o.idB(), o.btidA(), o.iv(),
        flip(o.ciphertext(), 0)).encode()), 401, "INTEGRITY");
    o = offer(kms.ueSdk.offer(sa, BOB).offerBytes());
    assertProblem(keyRequestSealed(new Offer(o.idA(), o.idB(), o.btidA(), o.iv(),
        flip(o.ciphertext(), o.ciphertext().length - 1)).encode()), 401, "INTEGRITY");
  }

  @Test
  void bitFlipInEachFieldOfEm_theKeyRequest() throws Exception {
    // The flags byte (e2m false -> true): Em's AAD.
    assertProblem(post(kms.vmBob, KEY_REQUEST, genuineKeyRequest().put("e2m", true)), 401,
        "INTEGRITY");
    // The plain ID-Bm: no longer the client certificate's identity (checked before the KMS).
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        genuineKeyRequest().put("idBm", flipId(VM_BOB, 5))), 403,
        "CLIENT_CERT_IDENTITY_MISMATCH");
    // The mailbox's B-TID (RAND).
    int rand = 2 + 1 + 2 + VM_BOB.length();
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        with(genuineKeyRequest(), "btidM", b -> flip(b, rand))), 401, "INTEGRITY");
    // The offer (its plain ID-A, ID-B, Ea): Em's AAD.
    int idAByte = 2 + 2 + 4;
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        with(genuineKeyRequest(), "offer", b -> flip(b, idAByte))), 401, "INTEGRITY");
    int idBByte = 2 + 2 + ALICE.length() + 2 + 4;
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        with(genuineKeyRequest(), "offer", b -> flip(b, idBByte))), 401, "INTEGRITY");
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        with(genuineKeyRequest(), "offer", b -> flip(b, b.length - 1))), 401, "INTEGRITY");
    // IV and Em's tag (its first ciphertext byte is in DeferredDeliveryHttpsTest).
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        with(genuineKeyRequest(), "iv", b -> flip(b, 11))), 401, "INTEGRITY");
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        with(genuineKeyRequest(), "em", b -> flip(b, b.length - 1))), 401, "INTEGRITY");
  }

  @Test
  void bitFlipInEachFieldOfEb_theRetrievalRequest() throws Exception {
    Delivery d = kms.deliver(p, false);
    // The offer's plain ID-A: Eb's AAD.
    assertProblem(post(kms.ue, RETRIEVE,
        with(genuineRetrieval(d), "offer", b -> flip(b, 2 + 2 + 4))), 401, "INTEGRITY");
    // The offer's plain ID-B ("sip:cob@..."): no longer the caller.
    assertProblem(post(kms.ue, RETRIEVE, with(genuineRetrieval(d), "offer",
        b -> flip(b, 2 + 2 + ALICE.length() + 2 + 4))), 403, "NOT_AUTHORISED");
    // Ea inside the offer, and the ticket: Eb's AAD.
    assertProblem(post(kms.ue, RETRIEVE,
        with(genuineRetrieval(d), "offer", b -> flip(b, b.length - 1))), 401, "INTEGRITY");
    assertProblem(post(kms.ue, RETRIEVE,
        with(genuineRetrieval(d), "ticket", b -> flip(b, b.length - 1))), 401, "INTEGRITY");
    // Ea altered and Eb sealed over it: the ticket's H(offer) no longer matches.
    assertProblem(retrieveSealed(flip(d.offer().offerBytes(), d.offer().offerBytes().length - 1),
        d.grant().ticket()), 401, "INTEGRITY");
    // IV, ciphertext, tag of Eb.
    assertProblem(post(kms.ue, RETRIEVE, with(genuineRetrieval(d), "iv", b -> flip(b, 0))), 401,
        "INTEGRITY");
    assertProblem(post(kms.ue, RETRIEVE, with(genuineRetrieval(d), "eb", b -> flip(b, 0))), 401,
        "INTEGRITY");
    assertProblem(post(kms.ue, RETRIEVE,
        with(genuineRetrieval(d), "eb", b -> flip(b, b.length - 1))), 401, "INTEGRITY");
  }

  @Test
  void bitFlipInEachFieldOfTheTicket_ebSealedOverIt() throws Exception {
    Delivery d = kms.deliver(p, false);
    byte[] offer = d.offer().offerBytes();
    Ticket t = Ticket.decode(d.grant().ticket());
    Ticket[] altered = {
        new Ticket(flipId(t.idA(), 4), t.idB(), t.idBm(), t.offerHash(), t.notAfterMs(),
            t.ticketRootVersion(), t.mediaRootVersion(), t.wrappedKa()),
        new Ticket(t.idA(), flipId(t.idB(), 4), t.idBm(), t.offerHash(), t.notAfterMs(),
            t.ticketRootVersion(), t.mediaRootVersion(), t.wrappedKa()),
        new Ticket(t.idA(), t.idB(), flipId(t.idBm(), 5), t.offerHash(), t.notAfterMs(),
            t.ticketRootVersion(), t.mediaRootVersion(), t.wrappedKa()),
        new Ticket(t.idA(), t.idB(), t.idBm(), flip(t.offerHash(), 0), t.notAfterMs(),
            t.ticketRootVersion(), t.mediaRootVersion(), t.wrappedKa()),
        // notAfter one millisecond earlier or later: still valid, but the header changed.
        new Ticket(t.idA(), t.idB(), t.idBm(), t.offerHash(), t.notAfterMs() ^ 1,
            t.ticketRootVersion(), t.mediaRootVersion(), t.wrappedKa()),
        new Ticket(t.idA(), t.idB(), t.idBm(), t.offerHash(), t.notAfterMs(),
            t.ticketRootVersion(), t.mediaRootVersion() ^ 2, t.wrappedKa()),
        new Ticket(t.idA(), t.idB(), t.idBm(), t.offerHash(), t.notAfterMs(),
            t.ticketRootVersion(), t.mediaRootVersion(), flip(t.wrappedKa(), 39)),
    };
    for (Ticket x : altered) {
      assertProblem(retrieveSealed(offer, x.encode()), 401, "INTEGRITY");
    }
    // The ticket-root version (1 -> 3): a version the token does not hold.
    assertProblem(retrieveSealed(offer, new Ticket(t.idA(), t.idB(), t.idBm(), t.offerHash(),
        t.notAfterMs(), t.ticketRootVersion() ^ 2, t.mediaRootVersion(), t.wrappedKa())
        .encode()), 400, "UNKNOWN_KEY_VERSION");
    // Unaltered, it still works.
    assertTrue(d.kAtA().equalContents(kms.retrieve(p, d)));
  }

  @Test
  void bitFlipInEachFieldOfTheBtid() throws Exception {
    Delivery d = kms.deliver(p, false);
    JsonObject genuine = genuineRetrieval(d);
    Btid b = sb.btid();
    // Version, type, role (UE 1 -> 0, no such role): malformed.
    for (int i : new int[] {0, 1, 2}) {
      assertProblem(post(kms.ue, RETRIEVE, with(genuine, "btidB", x -> flip(x, i))), 400,
          "MALFORMED");
    }
    // ID (still normal), RAND, notAfter, credVersion, tag: the B-TID's tag.
    Btid[] altered = {
        new Btid(b.role(), flipId(b.id(), 4), b.rand(), b.notAfterMs(), b.credVersion(),
            b.btidMacVersion(), b.tag()),
        new Btid(b.role(), b.id(), flip(b.rand(), 7), b.notAfterMs(), b.credVersion(),
            b.btidMacVersion(), b.tag()),
        new Btid(b.role(), b.id(), b.rand(), b.notAfterMs() ^ 1, b.credVersion(),
            b.btidMacVersion(), b.tag()),
        new Btid(b.role(), b.id(), b.rand(), b.notAfterMs(), b.credVersion() ^ 2,
            b.btidMacVersion(), b.tag()),
        new Btid(b.role(), b.id(), b.rand(), b.notAfterMs(), b.credVersion(),
            b.btidMacVersion(), flip(b.tag(), 31)),
    };
    for (Btid x : altered) {
      assertProblem(post(kms.ue, RETRIEVE, genuine.copy().put("btidB",
          JsonMessages.b64(x.encode()))), 401, "INTEGRITY");
    }
    // The B-TID MAC key version (1 -> 3): not held.
    Btid mac3 = new Btid(b.role(), b.id(), b.rand(), b.notAfterMs(), b.credVersion(),
        b.btidMacVersion() ^ 2, b.tag());
    assertProblem(post(kms.ue, RETRIEVE, genuine.copy().put("btidB",
        JsonMessages.b64(mac3.encode()))), 400, "UNKNOWN_KEY_VERSION");
    // The same in the mailbox's B-TID of a key request.
    Btid m = sm.btid();
    Btid m9 = new Btid(m.role(), m.id(), m.rand(), m.notAfterMs(), m.credVersion(), 9, m.tag());
    assertProblem(post(kms.vmBob, KEY_REQUEST, genuineKeyRequest().put("btidM",
        JsonMessages.b64(m9.encode()))), 400, "UNKNOWN_KEY_VERSION");
  }

  // ---- truncated and oversize fields ----

  @Test
  void truncatedAndOversizeFields_are400() throws Exception {
    Delivery d = kms.deliver(p, false);
    JsonObject r = genuineRetrieval(d);
    UnaryOperator<byte[]> cut = b -> Arrays.copyOf(b, b.length - 1);
    UnaryOperator<byte[]> extra = b -> Arrays.copyOf(b, b.length + 1);
    for (String field : new String[] {"btidB", "offer", "ticket"}) {
      assertProblem(post(kms.ue, RETRIEVE, with(r, field, cut)), 400, "MALFORMED");
      assertProblem(post(kms.ue, RETRIEVE, with(r, field, extra)), 400, "MALFORMED");
    }
    JsonObject k = genuineKeyRequest();
    for (String field : new String[] {"btidM", "offer"}) {
      assertProblem(post(kms.vmBob, KEY_REQUEST, with(k, field, cut)), 400, "MALFORMED");
      assertProblem(post(kms.vmBob, KEY_REQUEST, with(k, field, extra)), 400, "MALFORMED");
    }
    // Over the protocol's maximum (B-TID 512, offer 2048, ticket 1024, ciphertext 1024 bytes):
    // refused by the contract's length limits, as a binary member of the wrong length.
    JsonObject p1 = assertProblem(post(kms.ue, RETRIEVE,
        r.copy().put("btidB", JsonMessages.b64(new byte[Wire.MAX_BTID + 1]))), 400, "BAD_BASE64");
    assertEquals("/btidB", p1.getString("pointer"));
    assertProblem(post(kms.ue, RETRIEVE,
        r.copy().put("ticket", JsonMessages.b64(new byte[Wire.MAX_TICKET + 1]))), 400,
        "BAD_BASE64");
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        k.copy().put("offer", JsonMessages.b64(new byte[Wire.MAX_OFFER + 1]))), 400,
        "BAD_BASE64");
    assertProblem(post(kms.vmBob, KEY_REQUEST,
        k.copy().put("em", JsonMessages.b64(new byte[Wire.MAX_CIPHERTEXT + 1]))), 400,
        "BAD_BASE64");
    // Within the maximum but longer than its content: a B-TID with 100 bytes after its tag.
    assertProblem(post(kms.ue, RETRIEVE,
        with(r, "btidB", b -> Arrays.copyOf(b, b.length + 100))), 400, "MALFORMED");
  }

  @Test
  void truncatedOrExtendedPlaintextInsideEaEmEb_is400Malformed() throws Exception {
    // Well sealed, so the KMS decrypts them; the plaintext has one byte too many or too few.
    byte[] offer = kms.ueSdk.offer(sa, BOB).offerBytes();
    byte[] em = new IdPairSecret(ALICE, VM_BOB, Forge.random(16), now()).encode();
    assertProblem(keyRequest(Forge.sealedMailboxRequest(sm, offer, VM_BOB,
        Arrays.copyOf(em, em.length + 1), false)), 400, "MALFORMED");
    assertProblem(keyRequest(Forge.sealedMailboxRequest(sm, offer, VM_BOB,
        Arrays.copyOf(em, em.length - 1), false)), 400, "MALFORMED");
    byte[] ea = new OfferSecret(Forge.random(32), ALICE, BOB, Forge.random(16), now()).encode();
    assertProblem(keyRequestSealed(Forge.sealedOffer(sa, ALICE, BOB,
        Arrays.copyOf(ea, ea.length + 1))), 400, "MALFORMED");
    Delivery d = kms.deliver(p, false);
    byte[] eb = new IdPairSecret(ALICE, BOB, Forge.random(16), now()).encode();
    assertProblem(retrieve(Forge.sealedRetrieval(sb, d.offer().offerBytes(), d.grant().ticket(),
        Arrays.copyOf(eb, eb.length - 1))), 400, "MALFORMED");
    // Em's ciphertext with a byte appended: its tag no longer verifies.
    assertProblem(post(kms.vmBob, KEY_REQUEST, with(genuineKeyRequest(), "em",
        b -> Arrays.copyOf(b, b.length + 1))), 401, "INTEGRITY");
  }

  @Test
  void identityOverTwoHundredFiftyFiveBytes_is400Malformed() throws Exception {
    // 146 characters (the schema allows 255) but 272 bytes of UTF-8: over the protocol's limit.
    String longId = "sip:" + "\u00e9".repeat(126) + "@ims.example.com";
    BootstrapRequest r = BootstrapRequest.decode(kms.bootstrapping.start(p.alice())
        .requestBytes());
    assertProblem(post(kms.ue, BOOTSTRAP, JsonMessages.toJson(r).put("id", longId)), 400,
        "MALFORMED");
  }

  // ---- expiry ----

  @Test
  void expiredBtid_is401ExpiredBtid_inEveryFlow() throws Exception {
    Delivery d = kms.deliver(p, false);
    byte[] offerBeforeExpiry = kms.ueSdk.offer(sa, BOB).offerBytes();
    clock.advance(BTID_LIFETIME.plusSeconds(1));
    try {
      // UE-B's, the mailbox's and UE-A's B-TIDs, each the only expired one.
      assertProblem(retrieve(kms.ueSdk.retrieval(sb, d.offer().offerBytes(), d.grant().ticket())
          .requestBytes()), 401, "EXPIRED_BTID");
      ClientSession freshA = kms.bootstrap(kms.ue, p.alice());
      assertProblem(keyRequest(kms.mailboxSdk.keyRequest(sm,
          kms.ueSdk.offer(freshA, BOB).offerBytes(), false).requestBytes()), 401, "EXPIRED_BTID");
      ClientSession freshM = kms.bootstrap(kms.vmBob, p.vmBob());
      // A fresh Em around an offer made (and timestamped) before; the B-TID check comes first.
      byte[] em = Forge.mailboxRequest(freshM, offerBeforeExpiry, VM_BOB, ALICE, VM_BOB, now(),
          false);
      assertProblem(keyRequest(em), 401, "EXPIRED_BTID");
    } finally {
      clock.advance(BTID_LIFETIME.plusSeconds(1).negated());
    }
  }

  @Test
  void expiredTicket_is410ExpiredTicket() throws Exception {
    Delivery d = kms.deliver(p, false);
    clock.advance(TICKET_RETENTION.plusSeconds(1));
    try {
      ClientSession freshB = kms.bootstrap(kms.ue, p.bob());
      assertProblem(retrieve(kms.ueSdk.retrieval(freshB, d.offer().offerBytes(),
          d.grant().ticket()).requestBytes()), 410, "EXPIRED_TICKET");
    } finally {
      clock.advance(TICKET_RETENTION.plusSeconds(1).negated());
    }
    // Before the retention ends it is served.
    assertTrue(d.kAtA().equalContents(kms.retrieve(p, d)));
  }

  // ---- freshness ----

  @Test
  void staleTimestamp_is409StaleTimestamp_inEveryRequest() throws Exception {
    for (Duration skew : new Duration[] {WINDOW.plusMinutes(1).negated(),
        WINDOW.plusMinutes(1)}) {
      Clock off = Clock.offset(clock, skew);
      Bootstrapping offBoot = new Bootstrapping(off, RandomSource.secure());
      UeClient offUe = new UeClient(off, RandomSource.secure());
      MailboxClient offMailbox = new MailboxClient(off, RandomSource.secure());
      assertProblem(bootstrap(kms.ue, offBoot.start(p.alice()).requestBytes()), 409,
          "STALE_TIMESTAMP");
      assertProblem(bootstrap(kms.vmBob, offBoot.start(p.vmBob()).requestBytes()), 409,
          "STALE_TIMESTAMP");
      // Em stale (tsM), then Ea stale (tsA) inside a fresh Em.
      assertProblem(keyRequest(offMailbox.keyRequest(sm, kms.ueSdk.offer(sa, BOB).offerBytes(),
          false).requestBytes()), 409, "STALE_TIMESTAMP");
      assertProblem(keyRequestSealed(offUe.offer(sa, BOB).offerBytes()), 409,
          "STALE_TIMESTAMP");
      Delivery d = kms.deliver(p, false);
      assertProblem(retrieve(offUe.retrieval(sb, d.offer().offerBytes(), d.grant().ticket())
          .requestBytes()), 409, "STALE_TIMESTAMP");
    }
    // Extreme u64 timestamps inside Em (0, 2^63-1, and 2^64-1, a negative Java long).
    byte[] offer = kms.ueSdk.offer(sa, BOB).offerBytes();
    for (long ts : new long[] {0, Long.MAX_VALUE, -1, Long.MIN_VALUE}) {
      assertProblem(keyRequest(Forge.mailboxRequest(sm, offer, VM_BOB, ALICE, VM_BOB, ts,
          false)), 409, "STALE_TIMESTAMP");
    }
    // A bootstrap timestamp of 0 (the contract's minimum).
    Bootstrapping epoch = new Bootstrapping(Clock.fixed(java.time.Instant.EPOCH,
        java.time.ZoneOffset.UTC), RandomSource.secure());
    assertProblem(bootstrap(kms.ue, epoch.start(p.alice()).requestBytes()), 409,
        "STALE_TIMESTAMP");
  }

  // ---- who may ask ----

  @Test
  void retrieve_byUeCOrTheMailbox_withEbSealedByThemselves_is403NotAuthorised()
      throws Exception {
    // DeferredDeliveryHttpsTest sends these with a zero Eb; here Eb is genuinely sealed by the
    // caller, claiming alice -> bob, so only the recipient check can refuse them.
    Delivery d = kms.deliver(p, false);
    assertProblem(retrieve(Forge.retrieval(sc, d.offer().offerBytes(), d.grant().ticket(), ALICE,
        BOB, now())), 403, "NOT_AUTHORISED");
    assertProblem(retrieve(Forge.retrieval(sm, d.offer().offerBytes(), d.grant().ticket(), ALICE,
        BOB, now())), 403, "NOT_AUTHORISED");
  }

  @Test
  void keyRequest_withAUeBtidOrAnotherMailboxesBtid_is403NotAuthorised() throws Exception {
    byte[] offer = kms.ueSdk.offer(sa, BOB).offerBytes();
    // vm.bob's certificate and name, carol's (a UE's) B-TID and key.
    assertProblem(keyRequest(Forge.mailboxRequest(sc, offer, VM_BOB, ALICE, VM_BOB, now(),
        false)), 403, "NOT_AUTHORISED");
    // vm.carol's certificate and name, vm.bob's B-TID and key.
    byte[] req = Forge.mailboxRequest(sm, offer, VM_CAROL, ALICE, VM_CAROL, now(), false);
    assertProblem(post(kms.vmCarol, KEY_REQUEST,
        JsonMessages.toJson(MailboxKeyRequest.decode(req))), 403, "NOT_AUTHORISED");
  }

  // ---- key versions and credentials ----

  @Test
  void unknownKeyVersion_is400UnknownKeyVersion() throws Exception {
    for (int v : new int[] {2, 9999, 10_000, Integer.MAX_VALUE}) {
      Credential cv = new Credential(Role.UE, ALICE, v, Forge.kp(p.alice()));
      assertProblem(bootstrap(kms.ue, kms.bootstrapping.start(cv).requestBytes()), 400,
          "UNKNOWN_KEY_VERSION");
    }
    Delivery d = kms.deliver(p, false);
    Ticket t = Ticket.decode(d.grant().ticket());
    byte[] t9999 = new Ticket(t.idA(), t.idB(), t.idBm(), t.offerHash(), t.notAfterMs(), 9999,
        t.mediaRootVersion(), t.wrappedKa()).encode();
    assertProblem(retrieveSealed(d.offer().offerBytes(), t9999), 400, "UNKNOWN_KEY_VERSION");
    // Version 0 is outside the contract's range.
    BootstrapRequest r = BootstrapRequest.decode(kms.bootstrapping.start(p.alice())
        .requestBytes());
    assertProblem(post(kms.ue, BOOTSTRAP, JsonMessages.toJson(r).put("credVersion", 0)), 400,
        "SCHEMA_VIOLATION");
  }

  @Test
  void enrolmentCredentialOfAnotherPrincipal_is401Integrity() throws Exception {
    // A UE bootstrapping as bob with alice's credential.
    Credential asBob = new Credential(Role.UE, BOB, 1, Forge.kp(p.alice()));
    assertProblem(bootstrap(kms.ue, kms.bootstrapping.start(asBob).requestBytes()), 401,
        "INTEGRITY");
    // Bob's (a UE's) credential used as vm.bob, over vm.bob's TLS identity.
    Credential asVmBob = new Credential(Role.MAILBOX, VM_BOB, 1, Forge.kp(p.bob()));
    assertProblem(bootstrap(kms.vmBob, kms.bootstrapping.start(asVmBob).requestBytes()), 401,
        "INTEGRITY");
    // vm.carol's credential used as vm.bob.
    Credential vmCarolAsVmBob = new Credential(Role.MAILBOX, VM_BOB, 1, Forge.kp(p.vmCarol()));
    assertProblem(bootstrap(kms.vmBob, kms.bootstrapping.start(vmCarolAsVmBob).requestBytes()),
        401, "INTEGRITY");
  }

  // ---- after the suite ----

  @Test
  @Order(Integer.MAX_VALUE)
  void afterTheSuite_aValidFlowSucceeds_andNoHsmSessionObjectIsLeft() throws Exception {
    Delivery d = kms.deliver(p, true);
    assertTrue(d.kAtA().equalContents(kms.retrieve(p, d)));
    assertEquals(sessionObjectsAtStart, kms.leftoverSessionObjects());
    assertTrue(kms.app.hsm().status().sharedKeys() > 0, "recovered keys were shared");
  }

}
