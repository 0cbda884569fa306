package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigLoader;
import io.imskms.audit.AuditLog;
import io.imskms.audit.DiscardingDisk;
import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.UeClient;
import io.imskms.core.LongTermKeys;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * What the audit costs on the throughput of mailbox key requests over HTTPS (docs/performance.md,
 * "Audit"): the same server, token and load with the real audit log (durable: write + fsync per
 * batch, answer after the fsync) and with the same log on a disk that discards (all CPU work of
 * the audit, no I/O), alternating, in one JVM. Prints numbers; asserts nothing about time. Runs
 * only with {@code -Dkms.bench=true}:
 *
 * <pre>mvn -B test -pl vertx-api -Dtest=AuditOverheadBench -Dkms.bench=true</pre>
 */
@EnabledIfSystemProperty(named = "kms.bench", matches = "true")
class AuditOverheadBench {
  private static final String ALICE = "sip:alice@ims.example.com";
  private static final String BOB = "sip:bob@ims.example.com";
  private static final String VM_BOB = "sip:vm.bob@ims.example.com";
  private static final int REQUESTS = Integer.getInteger("kms.bench.requests", 3000);
  private static final int CLIENTS = Integer.getInteger("kms.bench.clients", 16);
  private static final int ROUNDS = Integer.getInteger("kms.bench.rounds", 3);
  /**
   * The server variants run alternately in each round: {@code durable}, {@code no-disk}, and
   * {@code pseudonymised} (durable, with {@code audit.identities: pseudonymised}).
   */
  private static final List<String> MODES = List.of(
      System.getProperty("kms.bench.modes", "durable,no-disk").split(","));
  private static final int PSEUDONYMS = Integer.getInteger("kms.bench.pseudonyms", 20000);

  @Test
  void mailboxKeyRequestThroughput_durableAuditVersusDiscardingDisk() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
          "audit-bench-");
      Path directory = work.resolve("directory.json");
      Files.writeString(directory, "{\"version\":1,\"mailboxes\":{\"" + VM_BOB
          + "\":{\"users\":[\"" + BOB + "\"]}}}", StandardCharsets.UTF_8);
      Map<String, List<Double>> results = new HashMap<>();
      int run = 0;
      for (int round = 0; round < ROUNDS; round++) {
        for (String mode : MODES) {
          Map<String, String> env = new HashMap<>();
          env.put("KMS_HTTP_HOST", "127.0.0.1");
          env.put("KMS_HTTP_PORT", "0");
          env.put("KMS_DEV_ENABLED", "true");
          env.put("KMS_DEV_TLS_DIR", work.resolve("tls").toString());
          env.put("KMS_HSM_MODULE", token.module().toString());
          env.put("KMS_HSM_TOKEN_LABEL", token.label());
          env.put("KMS_HSM_PIN", token.userPinForTest());
          env.put("KMS_HSM_POOL_SIZE", "4");
          env.put("KMS_WORKER_QUEUE_LIMIT", "256");
          env.put("KMS_CORE_DIRECTORY_FILE", directory.toString());
          env.put("KMS_CORE_PROVISION_KEYS", "true");
          env.put("KMS_AUDIT_DIR", work.resolve("audit-" + run++).toString());
          if (mode.equals("pseudonymised")) {
            env.put("KMS_AUDIT_IDENTITIES", "pseudonymised");
          }
          ApiConfig config = ConfigLoader.load(null, env);
          KmsApplication.AuditOpener opener = mode.equals("no-disk") ? DiscardingDisk::open
              : AuditLog::open;
          try (KmsApplication app = KmsApplication.start(config, env,
              hsm -> CoreOperations.open(config.core(), hsm), opener)) {
            double rps = measure(app, directory);
            results.computeIfAbsent(mode, k -> new ArrayList<>()).add(rps);
            System.out.printf("round %d %-13s %8.0f mailbox key requests/s%n", round, mode, rps);
          }
        }
      }
      for (String mode : MODES) {
        System.out.printf("AUDIT MODE %-13s median %.0f/s %s%n", mode, median(results.get(mode)),
            results.get(mode));
      }
      if (results.containsKey("durable") && results.containsKey("no-disk")) {
        double dm = median(results.get("durable"));
        double nm = median(results.get("no-disk"));
        System.out.printf("AUDIT OVERHEAD: %d requests x %d rounds, %d clients; durable median"
            + " %.0f/s, no-disk median %.0f/s; cost of durability %.1f%%%n", REQUESTS, ROUNDS,
            CLIENTS, dm, nm, 100 * (nm - dm) / nm);
      }
      if (results.containsKey("durable") && results.containsKey("pseudonymised")) {
        double dm = median(results.get("durable"));
        double pm = median(results.get("pseudonymised"));
        System.out.printf("PSEUDONYM OVERHEAD: %d requests x %d rounds, %d clients; durable"
            + " median %.0f/s, pseudonymised median %.0f/s; cost %.1f%%%n", REQUESTS, ROUNDS,
            CLIENTS, dm, pm, 100 * (dm - pm) / dm);
        pseudonymMisses(token);
      }
    }
  }

  /** What a cache miss costs: distinct identities, each one HMAC in the token. */
  private static void pseudonymMisses(SoftHsmTestToken token) throws Exception {
    try (var hsm = token.open()) {
      var audit = ConfigLoader.load(null, Map.of()).audit();
      io.imskms.api.audit.AuditPseudonyms.ensure(hsm, audit);
      var p = io.imskms.api.audit.AuditPseudonyms.open(hsm, audit);
      for (int i = 0; i < PSEUDONYMS / 10; i++) {
        p.pseudonym("sip:warmup" + i + "@ims.example.com");
      }
      long t0 = System.nanoTime();
      for (int i = 0; i < PSEUDONYMS; i++) {
        p.pseudonym("sip:user" + i + "@ims.example.com");
      }
      double s = (System.nanoTime() - t0) / 1e9;
      long t1 = System.nanoTime();
      for (int i = 0; i < PSEUDONYMS; i++) {
        p.pseudonym("sip:user" + i + "@ims.example.com");
      }
      double hit = (System.nanoTime() - t1) / 1e9;
      System.out.printf("PSEUDONYM MISS: %d distinct identities in %.2f s = %.0f HMACs/s in the"
          + " token (%.1f us each, one thread); cache hits %.0f/s%n", PSEUDONYMS, s,
          PSEUDONYMS / s, 1e6 * s / PSEUDONYMS, PSEUDONYMS / hit);
    }
  }

  private static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    return s.size() % 2 == 1 ? s.get(s.size() / 2)
        : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
  }

  /** Requests per second of {@link #REQUESTS} mailbox key requests, after a warm-up. */
  private static double measure(KmsApplication app, Path directory) throws Exception {
    Clock clock = Clock.systemUTC();
    EcdhEnrolment enrolment = new EcdhEnrolment(app.hsm(),
        LongTermKeys.of(KeyRing.load(app.hsm())), MailboxDirectory.load(directory));
    Credential alice = enrol(enrolment, Role.UE, ALICE);
    Credential vmBob = enrol(enrolment, Role.MAILBOX, VM_BOB);
    Vertx vertx = Vertx.vertx();
    WebClientOptions o = new WebClientOptions().setSsl(true).setVerifyHost(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(new PemTrustOptions().addCertPath(app.devTls().caCert().toString()))
        .setDefaultHost("localhost").setDefaultPort(app.port());
    WebClient ue = WebClient.create(vertx, new WebClientOptions(o),
        new PoolOptions().setHttp1MaxSize(CLIENTS));
    WebClient mailbox = WebClient.create(vertx, new WebClientOptions(o).setKeyCertOptions(
        new PemKeyCertOptions().setCertPath(app.devTls().clientCert(VM_BOB).toString())
            .setKeyPath(app.devTls().clientKey(VM_BOB).toString())),
        new PoolOptions().setHttp1MaxSize(CLIENTS));
    try {
      Bootstrapping b = new Bootstrapping(clock, RandomSource.secure());
      ClientSession sa = bootstrap(ue, b, alice);
      ClientSession sm = bootstrap(mailbox, b, vmBob);
      UeClient ueSdk = new UeClient(clock, RandomSource.secure());
      MailboxClient mbSdk = new MailboxClient(clock, RandomSource.secure());
      int warmup = REQUESTS / 4;
      List<JsonObject> requests = new ArrayList<>();
      for (int i = 0; i < warmup + REQUESTS; i++) {
        requests.add(JsonMessages.toJson(MailboxKeyRequest.decode(mbSdk.keyRequest(sm,
            ueSdk.offer(sa, BOB).offerBytes(), false).requestBytes())));
      }
      fire(mailbox, requests.subList(0, warmup));
      long t0 = System.nanoTime();
      fire(mailbox, requests.subList(warmup, requests.size()));
      return REQUESTS / ((System.nanoTime() - t0) / 1e9);
    } finally {
      ue.close();
      mailbox.close();
      vertx.close().await();
    }
  }

  private static void fire(WebClient mailbox, List<JsonObject> requests) throws Exception {
    AtomicInteger next = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    try {
      List<Future<?>> fs = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        fs.add(pool.submit(() -> {
          for (int i = next.getAndIncrement(); i < requests.size(); i = next.getAndIncrement()) {
            Buffer body = requests.get(i).toBuffer();
            int s = mailbox.post("/v1/deferred/key-request")
                .putHeader("content-type", "application/json").sendBuffer(body).await()
                .statusCode();
            if (s != 200) {
              failed.incrementAndGet();
            }
          }
        }));
      }
      for (Future<?> f : fs) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
    if (failed.get() > 0) {
      throw new AssertionError(failed.get() + " key requests were not answered 200");
    }
  }

  private static Credential enrol(EcdhEnrolment enrolment, Role role, String id)
      throws Exception {
    DeviceEnrolment device = new DeviceEnrolment(role, id);
    return device.open(enrolment.enrol(device.requestBytes()));
  }

  private static ClientSession bootstrap(WebClient c, Bootstrapping b, Credential cred)
      throws Exception {
    Bootstrapping.Pending p = b.start(cred);
    var r = c.post("/v1/bootstrap").putHeader("content-type", "application/json")
        .sendBuffer(JsonMessages.toJson(BootstrapRequest.decode(p.requestBytes())).toBuffer())
        .await();
    if (r.statusCode() != 200) {
      throw new AssertionError("bootstrap: " + r.statusCode() + " " + r.bodyAsString());
    }
    return b.finish(p, JsonMessages.bootstrapResponse(r.bodyAsJsonObject()).encode());
  }
}
