package io.imskms.mailbox;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms;
import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.InsecureSecretAccess;
import io.imskms.client.MediaProtection;
import io.imskms.client.RandomSource;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.client.UploadProtection;
import io.imskms.core.MutableClock;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The reference mailbox's own HTTP behaviour, against a real KMS over HTTPS on a real SoftHSM2
 * token ({@link TestKms}, one token for the class): the Figure 17/19/18 round trip, the upload
 * tag (missing or bad: 401, and the Ke2m survives it), unknown, malformed and path-traversal
 * message ids (404, nothing outside the store is read), a KMS refusal passed on as 502 with the
 * KMS's status and code, and Ke2m destroyed after the upload, on expiry and on close.
 */
class ReferenceMailboxTest {
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();

  private static TestKms kms;
  private static Vertx vertx;
  private static KmsHttpClient kmsForMailbox;
  private static KmsHttpClient kmsForUe;
  private static Credential alice;
  private static Credential vmBob;
  private static ClientSession aliceSession;
  private static final UeClient UE_SDK = new UeClient(Clock.systemUTC(), RandomSource.secure());
  /** The mailbox most tests use: default options, system clock. */
  private static Running main;

  /** A started mailbox with its clients. */
  private record Running(ReferenceMailbox mailbox, MailboxStore store, int port,
      ReferenceMailboxClient client, WebClient raw) implements AutoCloseable {
    @Override
    public void close() {
      client.close();
      raw.close();
      mailbox.close();
    }
  }

  /** What UE-A holds after a deposit: the message id and its own copy of Ke2m. */
  private record Deposited(String messageId, SecretBytes ke2mAtA, SecretBytes k) {
    /** A media container under K, as UE-A uploads it. */
    byte[] container(int mediaBytes) throws Exception {
      return MediaProtection.encrypt(k, RandomSource.secure().next(MediaProtection.MSG_ID_LEN),
          RandomSource.secure().next(mediaBytes), 1024);
    }
  }

  @BeforeAll
  static void setUp() throws Exception {
    kms = TestKms.start(env -> { });
    vertx = Vertx.vertx();
    URI server = URI.create("https://localhost:" + kms.app.port());
    Path ca = kms.app.devTls().caCert();
    kmsForMailbox = KmsHttpClient.create(vertx, server, ca,
        kms.app.devTls().clientCert(TestKms.VM_BOB), kms.app.devTls().clientKey(TestKms.VM_BOB));
    kmsForUe = KmsHttpClient.create(vertx, server, ca, null, null);
    alice = kms.enrol(Role.UE, TestKms.ALICE);
    vmBob = kms.enrol(Role.MAILBOX, TestKms.VM_BOB);
    Bootstrapping b = new Bootstrapping(Clock.systemUTC(), RandomSource.secure());
    Bootstrapping.Pending p = b.start(alice);
    aliceSession = b.finish(p, kmsForUe.bootstrap(p.requestBytes()).await());
    main = start(kms.work.resolve("mailbox"), ReferenceMailbox.Options.DEFAULT);
  }

  @AfterAll
  static void tearDown() {
    if (main != null) {
      main.close();
    }
    if (kmsForMailbox != null) {
      kmsForMailbox.close();
      kmsForUe.close();
      vertx.close().await();
    }
    if (kms != null) {
      kms.close();
    }
  }

  private static Running start(Path root, ReferenceMailbox.Options options) throws Exception {
    MailboxStore store = new MailboxStore(root);
    ReferenceMailbox mb = new ReferenceMailbox(vertx, vmBob, kmsForMailbox, store,
        MailboxEvents.none(), options);
    int port = mb.start("127.0.0.1", 0).await();
    WebClient raw = WebClient.create(vertx, new WebClientOptions().setSsl(true)
        .setVerifyHost(true).setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(mb.trustOptions()).setDefaultHost("localhost").setDefaultPort(port));
    return new Running(mb, store, port,
        new ReferenceMailboxClient(vertx, "localhost", port, mb.trustOptions()), raw);
  }

  /** UE-A leaves a message for {@code to} (Figure 17 steps 2, 3 and 8). */
  private static Deposited deposit(Running r, String to) throws Exception {
    UeClient.OutgoingOffer offer = UE_SDK.offer(aliceSession, to);
    ReferenceMailboxClient.Deposit d = r.client().deposit(offer.offerBytes()).await();
    UeClient.DeliveredKeys keys = UE_SDK.openDelivery(offer, d.delivery(), TestKms.VM_BOB);
    return new Deposited(d.messageId(), keys.e2mKey().orElseThrow(), keys.mediaKey());
  }

  private static byte[] tag(Deposited d, byte[] container) throws Exception {
    return UploadProtection.uploadTag(d.ke2mAtA(), TestKms.ALICE, TestKms.VM_BOB, container);
  }

  private static boolean destroyed(SecretBytes k) {
    for (byte b : k.toByteArray(InsecureSecretAccess.get())) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  }

  private static HttpResponse<Buffer> send(Running r, HttpMethod method, String uri,
      String uploadTag, byte[] body) {
    HttpRequest<Buffer> req = r.raw().request(method, uri);
    if (uploadTag != null) {
      req.putHeader("X-Upload-Tag", uploadTag);
    }
    return (body == null ? req.send() : req.sendBuffer(Buffer.buffer(body))).await();
  }

  private static void assertProblem(HttpResponse<Buffer> resp, int status, String code) {
    assertEquals(status, resp.statusCode(), resp.bodyAsString());
    assertEquals(code, resp.bodyAsJsonObject().getString("code"), resp.bodyAsString());
  }

  private static int statusOf(Throwable e) {
    Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return ((ReferenceMailboxClient.MailboxException) c).status();
  }

  @Test
  void depositUploadListFetchMedia_thenKe2mIsDestroyed() throws Exception {
    Deposited d = deposit(main, TestKms.BOB);
    SecretBytes ke2mAtMailbox = main.mailbox().pendingKe2m(d.messageId());
    assertNotNull(ke2mAtMailbox, "Ke2m kept until the upload");
    assertFalse(destroyed(ke2mAtMailbox));

    byte[] container = d.container(3000);
    byte[] tag = tag(d, container);
    byte[] ack = main.client().upload(d.messageId(), container, tag).await();
    UploadProtection.verifyAck(d.ke2mAtA(), TestKms.ALICE, TestKms.VM_BOB, tag, ack);
    assertNull(main.mailbox().pendingKe2m(d.messageId()), "Ke2m forgotten after the upload");
    assertTrue(destroyed(ke2mAtMailbox), "Ke2m overwritten after the upload");

    // A second upload, even with a valid tag, finds no Ke2m.
    assertProblem(send(main, HttpMethod.PUT, "/mailbox/v1/messages/" + d.messageId() + "/media",
        B64.encodeToString(tag), container), 404, "NO_PENDING_UPLOAD");

    List<ReferenceMailboxClient.Listed> listed = main.client().list(TestKms.BOB).await();
    assertTrue(listed.stream().anyMatch(l -> l.messageId().equals(d.messageId()) && l.hasMedia()
        && l.from().equals(TestKms.ALICE)), listed.toString());
    assertTrue(main.client().list(TestKms.CAROL).await().isEmpty());
    ReferenceMailboxClient.Stored s = main.client().fetch(d.messageId()).await();
    assertEquals(TestKms.ALICE, s.from());
    assertEquals(TestKms.BOB, s.to());
    assertArrayEquals(container, main.client().media(d.messageId()).await());

    Path dir = main.store().root().resolve(d.messageId());
    for (String f : new String[] {"meta.json", "offer.bin", "ticket.bin", "media.imsm"}) {
      assertTrue(Files.isRegularFile(dir.resolve(f)), f);
    }
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    assertEquals("rwx------", PosixFilePermissions.toString(
        Files.getPosixFilePermissions(main.store().root())));
    assertProblem(send(main, HttpMethod.GET, "/mailbox/v1/messages", null, null), 400,
        "MISSING_USER");
  }

  @Test
  void missingOrBadUploadTag_is401_andTheKe2mSurvivesForTheRealUpload() throws Exception {
    Deposited d = deposit(main, TestKms.BOB);
    byte[] container = d.container(500);
    String uri = "/mailbox/v1/messages/" + d.messageId() + "/media";
    byte[] good = tag(d, container);
    byte[] flipped = good.clone();
    flipped[0] ^= 1;
    byte[] otherContent = tag(d, d.container(500));
    for (String bad : new String[] {null, "", "not base64 !", B64.encodeToString(flipped),
        B64.encodeToString(otherContent), B64.encodeToString(new byte[good.length])}) {
      assertProblem(send(main, HttpMethod.PUT, uri, bad, container), 401,
          "UPLOAD_NOT_AUTHENTICATED");
    }
    // The tag is bound to UE-A's identity: made with Ke2m but for another sender.
    byte[] wrongSender = UploadProtection.uploadTag(d.ke2mAtA(), TestKms.CAROL, TestKms.VM_BOB,
        container);
    assertProblem(send(main, HttpMethod.PUT, uri, B64.encodeToString(wrongSender), container),
        401, "UPLOAD_NOT_AUTHENTICATED");
    assertTrue(main.store().media(d.messageId()).isEmpty(), "nothing stored on a refusal");
    assertNotNull(main.mailbox().pendingKe2m(d.messageId()));
    main.client().upload(d.messageId(), container, good).await();
    assertArrayEquals(container, main.store().media(d.messageId()).orElseThrow());
  }

  @Test
  void unknownMalformedAndTraversalIds_are404_andNothingOutsideTheStoreIsRead()
      throws Exception {
    // A complete "message" beside the store: what a traversal would reach.
    Path outside = main.store().root().getParent().resolve("outside");
    Files.createDirectories(outside);
    Files.writeString(outside.resolve("meta.json"), new JsonObject().put("from", "x")
        .put("to", TestKms.BOB).put("mailbox", "x").put("stored", "2020-01-01T00:00:00Z")
        .encode());
    for (String f : new String[] {"offer.bin", "ticket.bin", "media.imsm"}) {
      Files.writeString(outside.resolve(f), "SECRET-OUTSIDE", StandardCharsets.UTF_8);
    }
    String unknown = "0123456789abcdef0123456789abcdef";
    for (String id : new String[] {unknown, "0123456789ABCDEF0123456789ABCDEF", "x",
        unknown + "0", "..%2Foutside", "%2e%2e", "%2e%2e%2foutside", "..%252Foutside",
        "..%5Coutside", "%2E%2E%2F%2E%2E%2Foutside", unknown + "%00"}) {
      for (String suffix : new String[] {"", "/media"}) {
        HttpResponse<Buffer> r = send(main, HttpMethod.GET, "/mailbox/v1/messages/" + id + suffix,
            null, null);
        assertTrue(r.statusCode() == 404 || r.statusCode() == 400, id + suffix + ": "
            + r.statusCode() + " " + r.bodyAsString());
        assertFalse(r.bodyAsString() != null && r.bodyAsString().contains("SECRET"), id);
      }
      HttpResponse<Buffer> put = send(main, HttpMethod.PUT, "/mailbox/v1/messages/" + id
          + "/media", B64.encodeToString(new byte[32]), new byte[10]);
      assertTrue(put.statusCode() == 404 || put.statusCode() == 400, id + ": "
          + put.statusCode());
    }
    // Unencoded dots: the server normalises the path, which then names no route.
    for (String uri : new String[] {"/mailbox/v1/messages/../outside",
        "/mailbox/v1/messages/../../outside/media", "/mailbox/v1/messages/./../outside"}) {
      HttpResponse<Buffer> r = send(main, HttpMethod.GET, uri, null, null);
      assertTrue(r.statusCode() == 404 || r.statusCode() == 400, uri + ": " + r.statusCode());
      assertFalse(r.bodyAsString() != null && r.bodyAsString().contains("SECRET"), uri);
    }
    assertProblem(send(main, HttpMethod.GET, "/mailbox/v1/messages/" + unknown, null, null),
        404, "NO_SUCH_MESSAGE");
    assertProblem(send(main, HttpMethod.GET, "/mailbox/v1/messages/" + unknown + "/media", null,
        null), 404, "NO_MEDIA");
    assertTrue(main.client().list(TestKms.BOB).await().stream()
        .noneMatch(l -> l.from().equals("x")));
    assertTrue(Files.isRegularFile(outside.resolve("media.imsm")), "left alone");
  }

  @Test
  void kmsRefusal_isPassedOnAs502WithTheKmsStatusAndCode_andABadOfferIs400() throws Exception {
    // alice's offer for carol reaches bob's mailbox: the KMS refuses vm.bob for carol.
    UeClient.OutgoingOffer forCarol = UE_SDK.offer(aliceSession, TestKms.CAROL);
    HttpResponse<Buffer> r = send(main, HttpMethod.POST, "/mailbox/v1/deposit", null,
        new JsonObject().put("offer", B64.encodeToString(forCarol.offerBytes())).toBuffer()
            .getBytes());
    assertEquals(502, r.statusCode(), r.bodyAsString());
    JsonObject body = r.bodyAsJsonObject();
    assertEquals("KMS_REFUSED", body.getString("code"), body.encode());
    assertEquals(403, body.getInteger("kmsStatus"), body.encode());
    assertEquals("WRONG_MAILBOX", body.getString("kmsCode"), body.encode());
    assertEquals(502, statusOf(assertThrows(Exception.class,
        () -> main.client().deposit(forCarol.offerBytes()).await())));

    for (String bad : new String[] {"{}", "{\"offer\":\"AAAA\"}", "{\"offer\":\"!!\"}", "[]",
        "not json"}) {
      assertProblem(send(main, HttpMethod.POST, "/mailbox/v1/deposit", null,
          bad.getBytes(StandardCharsets.UTF_8)), 400, "BAD_OFFER");
    }
  }

  @Test
  void pendingKe2m_expiresAfterItsTtl_andIsDestroyedOnClose() throws Exception {
    MutableClock clock = new MutableClock(System.currentTimeMillis());
    try (Running r = start(kms.work.resolve("mailbox-ttl"),
        new ReferenceMailbox.Options(Duration.ofMinutes(10), clock))) {
      Deposited late = deposit(r, TestKms.BOB);
      Deposited kept = deposit(r, TestKms.BOB);
      SecretBytes lateKe2m = r.mailbox().pendingKe2m(late.messageId());
      SecretBytes keptKe2m = r.mailbox().pendingKe2m(kept.messageId());
      clock.advance(Duration.ofMinutes(9));
      byte[] container = late.container(100);
      assertNotNull(r.mailbox().pendingKe2m(late.messageId()));

      clock.advance(Duration.ofMinutes(2));
      assertProblem(send(r, HttpMethod.PUT, "/mailbox/v1/messages/" + late.messageId()
          + "/media", B64.encodeToString(tag(late, container)), container), 404,
          "NO_PENDING_UPLOAD");
      assertTrue(destroyed(lateKe2m), "an expired Ke2m is overwritten");
      assertTrue(destroyed(keptKe2m), "both expired");
      assertTrue(r.store().media(late.messageId()).isEmpty());
    }

    // Close: a Ke2m still waiting is overwritten.
    Running r = start(kms.work.resolve("mailbox-close"), ReferenceMailbox.Options.DEFAULT);
    Deposited d = deposit(r, TestKms.BOB);
    SecretBytes k = r.mailbox().pendingKe2m(d.messageId());
    assertFalse(destroyed(k));
    r.close();
    assertTrue(destroyed(k), "Ke2m overwritten on close");
    assertNull(r.mailbox().pendingKe2m(d.messageId()));
    assertThrows(IllegalArgumentException.class,
        () -> new ReferenceMailbox.Options(Duration.ZERO, Clock.systemUTC()));
  }
}
