package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigLoader;
import io.imskms.audit.AuditLog;
import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.core.LongTermKeys;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A KMS started the way an operator starts it ({@link KmsApplication}, configuration through
 * {@code KMS_*} variables, development TLS material), on a real SoftHSM2 token (one per test
 * class) with fresh long-term keys, on a free port; plus HTTPS clients with and without mailbox
 * client certificates, and the client SDK peers. Public, in vertx-api's test-jar, for the tests of
 * reference-mailbox and kms-cli.
 */
public final class TestKms implements AutoCloseable {
  public static final String ALICE = "sip:alice@ims.example.com";
  public static final String BOB = "sip:bob@ims.example.com";
  public static final String CAROL = "sip:carol@ims.example.com";
  public static final String VM_BOB = "sip:vm.bob@ims.example.com";
  public static final String VM_CAROL = "sip:vm.carol@ims.example.com";

  final SoftHsmTestToken token;
  public final Path work;
  public final KmsApplication app;
  /** The clients' own Vert.x, so that the server's metrics only show the server. */
  final Vertx clientVertx = Vertx.vertx();
  /** No client certificate (a UE). */
  public final WebClient ue;
  /** Client certificate of sip:vm.bob. */
  public final WebClient vmBob;
  /** Client certificate of sip:vm.carol. */
  final WebClient vmCarol;
  /** The clients' clock; the server's too when started with {@link #start(Consumer, Clock)}. */
  final Clock clock;
  final Bootstrapping bootstrapping;
  final UeClient ueSdk;
  final MailboxClient mailboxSdk;
  private EcdhEnrolment enrolment;
  /** False for a second node on another TestKms's token: closing it leaves the token. */
  private boolean ownsToken = true;

  private TestKms(SoftHsmTestToken token, Path work, KmsApplication app, Clock clock) {
    this.token = token;
    this.work = work;
    this.app = app;
    this.clock = clock;
    this.bootstrapping = new Bootstrapping(clock, RandomSource.secure());
    this.ueSdk = new UeClient(clock, RandomSource.secure());
    this.mailboxSdk = new MailboxClient(clock, RandomSource.secure());
    Path tls = work.resolve("tls");
    this.ue = client(tls, null);
    this.vmBob = client(tls, VM_BOB);
    this.vmCarol = client(tls, VM_CAROL);
  }

  /** A KMS over kms-core's DeferredDeliveryService. */
  public static TestKms start(Consumer<Map<String, String>> env) throws Exception {
    return start(env, (KmsOperations) null);
  }

  /**
   * A KMS over kms-core whose replay window, B-TID and ticket lifetimes follow {@code clock}
   * (which the client SDK peers use too), so that a test can move time.
   */
  static TestKms start(Consumer<Map<String, String>> env, Clock clock) throws Exception {
    return start(env, null, clock);
  }

  /**
   * A KMS; {@code operations} replaces the real service when not null (to make the worker
   * block, for example). The long-term keys are generated either way.
   */
  static TestKms start(Consumer<Map<String, String>> envTweaks, KmsOperations operations)
      throws Exception {
    return start(envTweaks, operations, null);
  }

  /** {@code clock} null: the server's own system clock, started exactly as in production. */
  private static TestKms start(Consumer<Map<String, String>> envTweaks,
      KmsOperations operations, Clock clock) throws Exception {
    return start(envTweaks, operations, clock, AuditLog::open);
  }

  /** A KMS over kms-core whose audit log is opened by {@code auditOpener} (a faulty disk). */
  static TestKms start(Consumer<Map<String, String>> envTweaks,
      KmsApplication.AuditOpener auditOpener) throws Exception {
    return start(envTweaks, null, null, auditOpener);
  }

  private static TestKms start(Consumer<Map<String, String>> envTweaks,
      KmsOperations operations, Clock clock, KmsApplication.AuditOpener auditOpener)
      throws Exception {
    SoftHsmTestToken token = SoftHsmTestToken.create();
    Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
        "api-test-");
    Path directoryFile = work.resolve("directory.json");
    Files.writeString(directoryFile, "{\"version\":1,\"mailboxes\":{"
        + "\"" + VM_BOB + "\":{\"users\":[\"" + BOB + "\"]},"
        + "\"" + VM_CAROL + "\":{\"users\":[\"" + CAROL + "\"]}}}", StandardCharsets.UTF_8);
    return start(token, work, directoryFile, envTweaks, operations, clock, auditOpener);
  }

  /**
   * Another node on this KMS's token, started the same way with its own port, development TLS
   * material, key manifest and audit log (two servers of one deployment sharing the HSM; in one
   * JVM, so they share the PKCS#11 module). Closing it leaves the token to this one.
   */
  public TestKms startSecondNode() throws Exception {
    Path work2 = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
        "api-test-node2-");
    TestKms second = start(token, work2, work.resolve("directory.json"), env -> { }, null, null,
        AuditLog::open);
    second.ownsToken = false;
    return second;
  }

  private static TestKms start(SoftHsmTestToken token, Path work, Path directoryFile,
      Consumer<Map<String, String>> envTweaks, KmsOperations operations, Clock clock,
      KmsApplication.AuditOpener auditOpener) throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put("KMS_HTTP_HOST", "127.0.0.1");
    env.put("KMS_HTTP_PORT", "0");
    env.put("KMS_HTTP_READ_TIMEOUT_MS", "1500");
    env.put("KMS_DEV_ENABLED", "true");
    env.put("KMS_DEV_TLS_DIR", work.resolve("tls").toString());
    env.put("KMS_DEV_MAILBOXES", VM_BOB + "," + VM_CAROL);
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    env.put("KMS_HSM_POOL_SIZE", "4");
    env.put("KMS_WORKER_QUEUE_LIMIT", "256");
    env.put("KMS_CORE_DIRECTORY_FILE", directoryFile.toString());
    env.put("KMS_CORE_PROVISION_KEYS", "true");
    env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
    env.put("KMS_AUDIT_DIR", work.resolve("audit").toString());
    envTweaks.accept(env);
    ApiConfig config = ConfigLoader.load(null, env);
    KmsApplication app;
    if (operations != null) {
      app = KmsApplication.start(config, env, hsm -> {
        KeyRing.ensureProvisioned(hsm);
        return operations;
      }, auditOpener);
    } else if (clock != null) {
      app = KmsApplication.start(config, env,
          hsm -> CoreOperations.open(config.core(), hsm, clock), auditOpener);
    } else {
      app = KmsApplication.start(config, env, KmsApplication.coreOperations(config.core()),
          auditOpener);
    }
    TestKms kms = new TestKms(token, work, app, clock != null ? clock : Clock.systemUTC());
    kms.enrolment = new EcdhEnrolment(app.hsm(), LongTermKeys.of(KeyRing.load(app.hsm())),
        MailboxDirectory.load(directoryFile));
    return kms;
  }

  private WebClient client(Path tls, String mailbox) {
    WebClientOptions o = new WebClientOptions()
        .setSsl(true)
        .setVerifyHost(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(new PemTrustOptions().addCertPath(tls.resolve("ca.pem").toString()))
        .setDefaultHost("localhost")
        .setDefaultPort(app.port());
    if (mailbox != null) {
      o.setKeyCertOptions(new PemKeyCertOptions()
          .setCertPath(app.devTls().clientCert(mailbox).toString())
          .setKeyPath(app.devTls().clientKey(mailbox).toString()));
    }
    return WebClient.create(clientVertx, o, new PoolOptions().setHttp1MaxSize(64));
  }

  /** Enrols a principal through the real ECDH enrolment and returns its credential. */
  public Credential enrol(Role role, String id) throws Exception {
    DeviceEnrolment device = new DeviceEnrolment(role, id);
    return device.open(enrolment.enrol(device.requestBytes()));
  }

  /** The demo principals of the directory, enrolled. */
  record Principals(Credential alice, Credential bob, Credential carol, Credential vmBob,
      Credential vmCarol) {}

  /** Enrols alice, bob, carol (UEs), vm.bob and vm.carol (mailboxes). */
  Principals enrolAll() throws Exception {
    return new Principals(enrol(Role.UE, ALICE), enrol(Role.UE, BOB), enrol(Role.UE, CAROL),
        enrol(Role.MAILBOX, VM_BOB), enrol(Role.MAILBOX, VM_CAROL));
  }

  /** What one Figure 17 (and 19) delivery produced. */
  record Delivery(UeClient.OutgoingOffer offer, MailboxClient.Grant grant, SecretBytes kAtA,
      UeClient.DeliveredKeys keysAtA, JsonObject keyRequestJson) {}

  /**
   * Figure 17 (and 19): alice's offer for bob reaches vm.bob, which asks the KMS over mTLS;
   * asserts 200 and opens the answer as the mailbox and as UE-A.
   */
  Delivery deliver(Principals p, boolean e2m) throws Exception {
    ClientSession sa = bootstrap(ue, p.alice());
    ClientSession sm = bootstrap(vmBob, p.vmBob());
    UeClient.OutgoingOffer offer = ueSdk.offer(sa, BOB);
    MailboxClient.PendingKeyRequest req = mailboxSdk.keyRequest(sm, offer.offerBytes(), e2m);
    JsonObject json = JsonMessages.toJson(MailboxKeyRequest.decode(req.requestBytes()));
    HttpResponse<Buffer> r = post(vmBob, "/v1/deferred/key-request", json);
    if (r.statusCode() != 200) {
      throw new AssertionError("key request failed: " + r.statusCode() + " " + r.bodyAsString());
    }
    if (e2m != r.bodyAsJsonObject().containsKey("wrappedKe2m")) {
      throw new AssertionError("wrappedKe2m present: " + !e2m);
    }
    MailboxClient.Grant grant = mailboxSdk.openResponse(req,
        JsonMessages.mailboxKeyResponse(r.bodyAsJsonObject()).encode());
    UeClient.DeliveredKeys keys = ueSdk.openDelivery(offer, grant.deliveryForUeA(), VM_BOB);
    return new Delivery(offer, grant, keys.mediaKey(), keys, json);
  }

  /** Figure 18: bob (freshly bootstrapped) retrieves K over HTTPS; asserts 200. */
  SecretBytes retrieve(Principals p, Delivery d) throws Exception {
    ClientSession sb = bootstrap(ue, p.bob());
    UeClient.PendingRetrieval pr = ueSdk.retrieval(sb, d.offer().offerBytes(),
        d.grant().ticket());
    HttpResponse<Buffer> r = post(ue, "/v1/deferred/retrieve",
        JsonMessages.toJson(RetrievalRequest.decode(pr.requestBytes())));
    if (r.statusCode() != 200) {
      throw new AssertionError("retrieval failed: " + r.statusCode() + " " + r.bodyAsString());
    }
    return ueSdk.openRetrieval(pr, JsonMessages.retrievalResponse(r.bodyAsJsonObject()).encode());
  }

  /** POSTs JSON and waits for the answer. */
  HttpResponse<Buffer> post(WebClient c, String path, JsonObject body) {
    return c.post(path).putHeader("content-type", "application/json")
        .sendBuffer(body.toBuffer()).await();
  }

  /** Bootstraps over HTTPS (a mailbox with its client certificate). */
  ClientSession bootstrap(WebClient c, Credential cred) throws Exception {
    Bootstrapping.Pending p = bootstrapping.start(cred);
    JsonObject req = JsonMessages.toJson(BootstrapRequest.decode(p.requestBytes()));
    HttpResponse<Buffer> r = post(c, "/v1/bootstrap", req);
    if (r.statusCode() != 200) {
      throw new AssertionError("bootstrap failed: " + r.statusCode() + " " + r.bodyAsString());
    }
    return bootstrapping.finish(p,
        JsonMessages.bootstrapResponse(r.bodyAsJsonObject()).encode());
  }

  /**
   * Session objects in the server's token other than its shared keys (Ks by B-TID, bounded by
   * hsm.sharedKeys): what requests left behind.
   */
  public long leftoverSessionObjects() throws Exception {
    return app.hsm().countSessionObjects() - app.hsm().status().sharedKeys();
  }

  @Override
  public void close() {
    ue.close();
    vmBob.close();
    vmCarol.close();
    clientVertx.close().await();
    app.close();
    if (ownsToken) {
      token.close();
    }
  }
}
