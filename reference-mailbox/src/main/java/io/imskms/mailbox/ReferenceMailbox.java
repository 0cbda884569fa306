package io.imskms.mailbox;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.SecretBytes;
import io.imskms.client.UploadProtection;
import io.imskms.protocol.Offer;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.core.net.TrustOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A reference mailbox server (the "mailbox" of TR 33.828 §7.4.3.3): a small Vert.x HTTPS service
 * that receives UE-A's offer when UE-B is offline, gets the ticket (and Ke2m) from the KMS with
 * its own credential over mutual TLS, stores the deferred message on disk ({@link MailboxStore}),
 * accepts the media upload protected with Ke2m, and later hands offer, ticket and media to UE-B.
 * It uses only the client SDK: it never holds anything from which K can be computed.
 *
 * <p>HTTP API (JSON, binary fields unpadded base64url; {@code docs/cli.md}):
 * <ul>
 *   <li>{@code POST /mailbox/v1/deposit {"offer"}} → {@code {"messageId","delivery"}}: Figure 17
 *       steps 3, 4, 6 and 7 (step 5 is the KMS); Ke2m is always requested (Figure 19);
 *   <li>{@code PUT /mailbox/v1/messages/{id}/media} with header {@code X-Upload-Tag} → {@code
 *       {"ack"}}: the Ke2m-protected upload of the media container (Figure 19);
 *   <li>{@code GET /mailbox/v1/messages?for=ID-B} → {@code {"messages":[...]}}: Figure 18 step 2;
 *   <li>{@code GET /mailbox/v1/messages/{id}} → {@code {"from","to","offer","ticket"}}: Figure 18
 *       step 3;
 *   <li>{@code GET /mailbox/v1/messages/{id}/media} → the container.
 * </ul>
 *
 * <p>Not a production mailbox: it does not authenticate UE-B (the IMS registration would). That
 * gives nothing away: the ticket is useless to anyone but ID-B, whom the KMS checks at Figure 18
 * step 5. Its TLS certificate is self-signed per start; clients trust it through
 * {@link #trustOptions()}.
 */
public final class ReferenceMailbox implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ReferenceMailbox.class);
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64_IN = Base64.getUrlDecoder();
  /** A B-TID is renewed when it has less than this left. */
  private static final Duration RENEW_BEFORE = Duration.ofMinutes(1);
  /** Largest media upload accepted. */
  public static final int MAX_MEDIA_BYTES = 16 * 1024 * 1024;

  private final Vertx vertx;
  private final Credential credential;
  private final KmsHttpClient kms;
  private final MailboxStore store;
  private final MailboxEvents events;
  private final Clock clock;
  private final Duration uploadTtl;
  private final Bootstrapping bootstrapping;
  private final MailboxClient sdk;
  private final SelfSignedCertificate tlsCert = SelfSignedCertificate.create("localhost");
  /** Ke2m per message, kept only until the upload it protects has arrived. */
  private final Map<String, PendingUpload> pendingUploads = new ConcurrentHashMap<>();
  private volatile ClientSession session;
  private HttpServer server;
  private long sweepTimer = -1;

  private record PendingUpload(String idA, SecretBytes ke2m, long expiresAtMs) {}

  /**
   * Settings of the mailbox.
   *
   * @param pendingUploadTtl how long a Ke2m waits for the upload it protects; afterwards it is
   *     destroyed and the upload refused (404 {@code NO_PENDING_UPLOAD})
   * @param clock the clock of the B-TID renewal and of that expiry
   */
  public record Options(Duration pendingUploadTtl, Clock clock) {
    /** Ten minutes for an upload; the system clock. */
    public static final Options DEFAULT = new Options(Duration.ofMinutes(10), Clock.systemUTC());

    public Options {
      Objects.requireNonNull(clock, "clock");
      if (pendingUploadTtl == null || pendingUploadTtl.isNegative() || pendingUploadTtl.isZero()) {
        throw new IllegalArgumentException("pendingUploadTtl must be positive");
      }
    }
  }

  /**
   * @param credential the mailbox's credential (role mailbox)
   * @param kms a client of the KMS that presents this mailbox's TLS client certificate
   */
  public ReferenceMailbox(Vertx vertx, Credential credential, KmsHttpClient kms,
      MailboxStore store, MailboxEvents events) {
    this(vertx, credential, kms, store, events, Options.DEFAULT);
  }

  /** As above, with {@code options} (upload expiry, clock). */
  public ReferenceMailbox(Vertx vertx, Credential credential, KmsHttpClient kms,
      MailboxStore store, MailboxEvents events, Options options) {
    if (credential.role() != Role.MAILBOX) {
      throw new IllegalArgumentException("the mailbox needs a mailbox credential");
    }
    this.vertx = Objects.requireNonNull(vertx);
    this.credential = credential;
    this.kms = Objects.requireNonNull(kms);
    this.store = Objects.requireNonNull(store);
    this.events = Objects.requireNonNull(events);
    this.clock = options.clock();
    this.uploadTtl = options.pendingUploadTtl();
    this.bootstrapping = new Bootstrapping(clock, RandomSource.secure());
    this.sdk = new MailboxClient(clock, RandomSource.secure());
  }

  /** The mailbox's identity (ID-Bm). */
  public String id() {
    return credential.id();
  }

  /** Bootstraps with the KMS (step 1m), then listens on {@code host:port} (0 = any free port). */
  public Future<Integer> start(String host, int port) {
    Router router = Router.router(vertx);
    router.route().handler(BodyHandler.create().setBodyLimit(MAX_MEDIA_BYTES)
        .setHandleFileUploads(false));
    router.post("/mailbox/v1/deposit").handler(this::deposit);
    router.put("/mailbox/v1/messages/:id/media").handler(this::upload);
    router.get("/mailbox/v1/messages").handler(this::list);
    router.get("/mailbox/v1/messages/:id").handler(this::fetch);
    router.get("/mailbox/v1/messages/:id/media").handler(this::media);
    HttpServerOptions o = new HttpServerOptions().setHost(host).setPort(port).setSsl(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setKeyCertOptions(tlsCert.keyCertOptions());
    return session().compose(s -> vertx.createHttpServer(o).requestHandler(router).listen())
        .map(srv -> {
          server = srv;
          // Expired Ke2m are also dropped on every deposit and upload; this catches the rest.
          sweepTimer = vertx.setPeriodic(Math.min(uploadTtl.toMillis(), 60_000L),
              id -> dropExpiredUploads());
          return srv.actualPort();
        });
  }

  /** What a client must trust to reach this mailbox over HTTPS (its self-signed certificate). */
  public TrustOptions trustOptions() {
    return tlsCert.trustOptions();
  }

  /** A valid B-TID and Km: bootstraps (seed step 1m) when there is none or it runs out soon. */
  private Future<ClientSession> session() {
    ClientSession s = session;
    if (s != null && s.notAfterMs() - RENEW_BEFORE.toMillis() > clock.millis()) {
      return Future.succeededFuture(s);
    }
    long t0 = System.nanoTime();
    return kms.bootstrap(() -> bootstrapping.start(credential)).compose(answered -> {
      try {
        ClientSession fresh = bootstrapping.finish(answered.pending(), answered.answer());
        session = fresh;
        events.step("Fig 17 step 1m", "mailbox " + credential.id() + " bootstrapped with the KMS"
            + " over mutual TLS (client certificate); got its B-TID and Km", since(t0));
        return Future.succeededFuture(fresh);
      } catch (ProtocolException e) {
        return Future.failedFuture(e);
      }
    });
  }

  private void deposit(RoutingContext ctx) {
    long t0 = System.nanoTime();
    dropExpiredUploads();
    byte[] offerBytes;
    Offer offer;
    try {
      offerBytes = B64_IN.decode(ctx.body().asJsonObject().getString("offer"));
      offer = Offer.decode(offerBytes);
    } catch (RuntimeException | ProtocolException e) {
      error(ctx, 400, "BAD_OFFER", "the body must be {\"offer\": base64url of an offer}");
      return;
    }
    events.step("Fig 17 step 3", "INVITE from " + offer.idA() + " for " + offer.idB()
        + " diverted to the mailbox; offer with Ea(Ra, ID-A, ID-B) received", since(t0));
    session().compose(sm -> {
      long t4 = System.nanoTime();
      // Each attempt (a retry after a lost connection included) is a fresh Em: new nonce.
      events.step("Fig 17 step 4", "mailbox sends Em(ID-A, ID-Bm) with UE-A's Ea to the KMS"
          + " over mutual TLS, asking for Ke2m too (Fig 19)", since(t4));
      long t5 = System.nanoTime();
      return kms.mailboxKeyRequest(() -> sdk.keyRequest(sm, offerBytes, true)).compose(answered -> {
        events.step("Fig 17 step 5", "KMS checked Em and Ea, derived K in the HSM, wrapped K"
            + " for UE-A, made the ticket Ekms(Ka) and Ke2m (round trip)", since(t5));
        long t6 = System.nanoTime();
        try {
          MailboxClient.Grant grant = sdk.openResponse(answered.pending(), answered.answer());
          return vertx.executeBlocking(() -> store.create(offer.idA(), offer.idB(), credential.id(),
              offerBytes, grant.ticket())).map(messageId -> {
                grant.e2mKey().ifPresent(k -> pendingUploads.put(messageId,
                    new PendingUpload(offer.idA(), k, clock.millis() + uploadTtl.toMillis())));
                events.step("Fig 17 step 6", "mailbox verified the KMS's MAC, unwrapped Ke2m"
                    + " (Fig 19) and stored the ticket under " + store.root().getFileName()
                    + "/" + messageId, since(t6));
                return new JsonObject().put("messageId", messageId)
                    .put("delivery", B64.encodeToString(grant.deliveryForUeA()));
              });
        } catch (ProtocolException e) {
          return Future.failedFuture(e);
        }
      });
    }).onSuccess(json -> {
      events.step("Fig 17 step 7", "mailbox relays Ea(Ra, K) and Ke2m's wrap to UE-A",
          Duration.ZERO);
      ok(ctx, json);
    }).onFailure(e -> failed(ctx, e));
  }

  private void upload(RoutingContext ctx) {
    long t0 = System.nanoTime();
    String id = ctx.pathParam("id");
    dropExpiredUploads();
    PendingUpload pending = id == null ? null : pendingUploads.get(id);
    if (pending == null) {
      error(ctx, 404, "NO_PENDING_UPLOAD", "no message awaiting its media under this id");
      return;
    }
    byte[] container = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
    byte[] tag;
    try {
      tag = B64_IN.decode(Objects.requireNonNull(ctx.request().getHeader("X-Upload-Tag")));
      UploadProtection.verifyUpload(pending.ke2m(), pending.idA(), credential.id(), container,
          tag);
    } catch (RuntimeException | ProtocolException e) {
      error(ctx, 401, "UPLOAD_NOT_AUTHENTICATED",
          "the upload tag is missing or does not verify under Ke2m");
      return;
    }
    byte[] ack = UploadProtection.ack(pending.ke2m(), pending.idA(), credential.id(), tag);
    vertx.executeBlocking(() -> {
      store.putMedia(id, container);
      return null;
    }).onSuccess(v -> {
      if (pendingUploads.remove(id, pending)) {
        pending.ke2m().destroy();
      }
      events.step("Fig 19", "mailbox verified UE-A's upload tag under Ke2m, stored the "
          + container.length + "-byte media container and acknowledged it", since(t0));
      ok(ctx, new JsonObject().put("ack", B64.encodeToString(ack)));
    }).onFailure(e -> failed(ctx, e));
  }

  /** Destroys and forgets every Ke2m whose upload did not arrive in time. */
  private void dropExpiredUploads() {
    long now = clock.millis();
    pendingUploads.forEach((id, p) -> {
      if (p.expiresAtMs() <= now && pendingUploads.remove(id, p)) {
        p.ke2m().destroy();
      }
    });
  }

  /** The Ke2m still waiting for the upload of {@code messageId} (tests). */
  SecretBytes pendingKe2m(String messageId) {
    PendingUpload p = pendingUploads.get(messageId);
    return p == null ? null : p.ke2m();
  }

  private void list(RoutingContext ctx) {
    long t0 = System.nanoTime();
    String user = ctx.request().getParam("for");
    if (user == null || user.isBlank()) {
      error(ctx, 400, "MISSING_USER", "name the user: ?for=ID");
      return;
    }
    vertx.executeBlocking(() -> store.messagesFor(user)).onSuccess(messages -> {
      JsonArray arr = new JsonArray();
      messages.forEach(m -> arr.add(new JsonObject().put("messageId", m.messageId())
          .put("from", m.from()).put("stored", m.stored().toString())
          .put("hasMedia", m.hasMedia())));
      events.step("Fig 18 step 2", user + " asks the mailbox for deferred messages: "
          + messages.size() + " stored", since(t0));
      ok(ctx, new JsonObject().put("messages", arr));
    }).onFailure(e -> failed(ctx, e));
  }

  private void fetch(RoutingContext ctx) {
    long t0 = System.nanoTime();
    String id = ctx.pathParam("id");
    vertx.executeBlocking(() -> store.get(id)).onSuccess(m -> {
      if (m.isEmpty()) {
        error(ctx, 404, "NO_SUCH_MESSAGE", "no message under this id");
        return;
      }
      events.step("Fig 18 step 3", "mailbox sends UE-B the stored offer (Ea) and ticket"
          + " Ekms(Ka)", since(t0));
      ok(ctx, new JsonObject().put("messageId", id).put("from", m.get().from())
          .put("to", m.get().to()).put("offer", B64.encodeToString(m.get().offer()))
          .put("ticket", B64.encodeToString(m.get().ticket())));
    }).onFailure(e -> failed(ctx, e));
  }

  private void media(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    vertx.executeBlocking(() -> store.media(id)).onSuccess(m -> {
      if (m.isEmpty()) {
        error(ctx, 404, "NO_MEDIA", "no media stored under this id");
        return;
      }
      ctx.response().putHeader("content-type", "application/octet-stream")
          .end(Buffer.buffer(m.get()));
    }).onFailure(e -> failed(ctx, e));
  }

  private static void ok(RoutingContext ctx, JsonObject json) {
    ctx.response().putHeader("content-type", "application/json").end(json.encode());
  }

  private static void error(RoutingContext ctx, int status, String code, String detail) {
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json")
        .end(new JsonObject().put("code", code).put("detail", detail).encode());
  }

  /** KMS refusals pass through as 502 with the KMS's status and code; nothing else leaks. */
  private static void failed(RoutingContext ctx, Throwable e) {
    if (e instanceof KmsProblemException p) {
      ctx.response().setStatusCode(502).putHeader("content-type", "application/json")
          .end(new JsonObject().put("code", "KMS_REFUSED").put("kmsStatus", p.status())
              .put("kmsCode", p.code()).encode());
    } else if (e instanceof ProtocolException p) {
      error(ctx, 502, "PROTOCOL_" + p.code(), "the KMS's answer did not verify");
    } else {
      LOG.warn("mailbox request failed: {}", e.toString());
      error(ctx, 500, "MAILBOX_ERROR", "the mailbox could not complete the request");
    }
  }

  private static Duration since(long t0) {
    return Duration.ofNanos(System.nanoTime() - t0);
  }

  /** Stops listening and forgets every Ke2m still waiting for its upload. */
  @Override
  public void close() {
    if (sweepTimer >= 0) {
      vertx.cancelTimer(sweepTimer);
    }
    if (server != null) {
      server.close().await();
    }
    pendingUploads.values().forEach(p -> p.ke2m().destroy());
    pendingUploads.clear();
  }
}
