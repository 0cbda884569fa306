package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.audit.AuditKeys;
import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigLoader;
import io.imskms.api.tls.DevTls;
import io.imskms.audit.AuditRecord;
import io.imskms.audit.LogVerifier;
import io.imskms.audit.VerifierKey;
import io.imskms.client.Bootstrapping;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.RandomSource;
import io.imskms.core.LongTermKeys;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * kill -9 under load loses no acknowledged record: the server runs in a child JVM exactly as
 * {@code kms serve} runs it ({@link KmsApplication#main}); UEs bootstrap concurrently over HTTPS,
 * each request with its own request id; the server is SIGKILLed mid-load and restarted (which
 * cuts a torn tail and records the repair); then every request that was answered 2xx has its
 * record in the log, and the log verifies with the verifier key alone.
 */
class AuditCrashHttpsTest {
  private static final String ALICE = "sip:alice@ims.example.com";

  @Test
  void killedUnderLoad_everyAcknowledgedRequestIsInTheVerifiedLog() throws Exception {
    SoftHsmTestToken token = SoftHsmTestToken.create();
    Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
        "audit-crash-");
    Path directory = work.resolve("directory.json");
    Files.writeString(directory, "{\"version\":1,\"mailboxes\":{\"sip:vm.bob@ims.example.com\":"
        + "{\"users\":[\"sip:bob@ims.example.com\"]}}}", StandardCharsets.UTF_8);
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Map<String, String> env = new HashMap<>();
    env.put("KMS_HTTP_HOST", "127.0.0.1");
    env.put("KMS_HTTP_PORT", Integer.toString(port));
    env.put("KMS_DEV_ENABLED", "true");
    env.put("KMS_DEV_TLS_DIR", work.resolve("tls").toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    env.put("KMS_HSM_POOL_SIZE", "2");
    env.put("KMS_WORKER_QUEUE_LIMIT", "256");
    env.put("KMS_CORE_DIRECTORY_FILE", directory.toString());
    env.put("KMS_CORE_PROVISION_KEYS", "true");
    env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
    env.put("KMS_AUDIT_DIR", work.resolve("audit").toString());
    ApiConfig config = ConfigLoader.load(null, env);
    DevTls.ensure(work.resolve("tls"), config.dev().mailboxes());

    // Keys, the audit key and alice's credential are made here, before the server's process
    // opens the token: the server finds them as it would after `kms token init`.
    Credential alice;
    VerifierKey vkey;
    try (Pkcs11Hsm hsm = Pkcs11Hsm.open(HsmConfig.builder().modulePath(token.module())
        .tokenLabel(token.label()).userPin(token.userPinForTest().toCharArray()).poolSize(2)
        .build())) {
      KeyRing ring = KeyRing.ensureProvisioned(hsm);
      AuditKeys.ensure(hsm, config.audit());
      vkey = VerifierKey.parse(AuditKeys.verifierKey(hsm, config.audit()).encode());
      DeviceEnrolment device = new DeviceEnrolment(Role.UE, ALICE);
      alice = device.open(new EcdhEnrolment(hsm, LongTermKeys.of(ring),
          MailboxDirectory.load(directory)).enrol(device.requestBytes()));
    }

    Vertx vertx = Vertx.vertx();
    WebClient client = WebClient.create(vertx, new WebClientOptions().setSsl(true)
        .setVerifyHost(true).setTrustOptions(new PemTrustOptions()
            .addCertPath(work.resolve("tls/ca.pem").toString()))
        .setDefaultHost("localhost").setDefaultPort(port), new PoolOptions().setHttp1MaxSize(16));
    Bootstrapping bootstrapping = new Bootstrapping(Clock.systemUTC(), RandomSource.secure());
    Set<String> acknowledged = ConcurrentHashMap.newKeySet();
    AtomicInteger sent = new AtomicInteger();
    try {
      Process server = startServer(env, work.resolve("server-1.log"));
      awaitReady(client, server);
      AtomicBoolean stop = new AtomicBoolean();
      Thread[] load = new Thread[8];
      for (int t = 0; t < load.length; t++) {
        load[t] = new Thread(() -> {
          while (!stop.get()) {
            String id = "crash-" + sent.incrementAndGet();
            try {
              var json = JsonMessages.toJson(BootstrapRequest.decode(
                  bootstrapping.start(alice).requestBytes()));
              int status = client.post("/v1/bootstrap")
                  .putHeader("content-type", "application/json")
                  .putHeader(RequestTracking.REQUEST_ID_HEADER, id)
                  .sendBuffer(json.toBuffer()).await().statusCode();
              if (status / 100 == 2) {
                acknowledged.add(id);
              }
            } catch (Exception e) {
              // the server died under this request: not acknowledged
            }
          }
        });
        load[t].start();
      }
      long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1000);
      while (System.nanoTime() < until || acknowledged.size() < 20) {
        Thread.sleep(20);
        assertTrue(server.isAlive(), "the server died on its own");
      }
      server.destroyForcibly(); // SIGKILL
      server.waitFor(10, TimeUnit.SECONDS);
      stop.set(true);
      for (Thread t : load) {
        t.join(10_000);
      }

      // The restart (in this JVM, to save a second JVM start-up): it cuts a torn tail, records
      // the repair, and serves again.
      try (KmsApplication again = KmsApplication.start(config, env)) {
        assertEquals(200, client.get("/health/ready").send().await().statusCode());
      } // close: shutdown record and final checkpoint
    } finally {
      client.close();
      vertx.close().await();
      token.close();
    }

    LogVerifier.Report report = LogVerifier.verify(work.resolve("audit"), vkey, List.of());
    assertTrue(report.ok(), report.findings().toString());
    Set<String> recorded = new HashSet<>();
    List<AuditRecord> records = AuditTrailHttpsTest.records(work.resolve("audit"));
    for (AuditRecord r : records) {
      if ("bootstrap".equals(r.event().event()) && "ok".equals(r.event().outcome().wire())) {
        recorded.add(r.event().requestId());
      }
    }
    Set<String> lost = new HashSet<>(acknowledged);
    lost.removeAll(recorded);
    assertTrue(acknowledged.size() >= 20, "load reached the server: " + acknowledged.size());
    assertEquals(Set.of(), lost, acknowledged.size() + " acknowledged of " + sent.get()
        + " sent; acknowledged but not in the log");
    assertEquals(2, records.stream().filter(r -> r.event().event().equals("server.start"))
        .count(), "both starts recorded");
  }

  private static Process startServer(Map<String, String> env, Path log) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp",
        System.getProperty("java.class.path"), KmsApplication.class.getName());
    pb.environment().putAll(env);
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return pb.start();
  }

  private static void awaitReady(WebClient client, Process server) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      assertTrue(server.isAlive(), "the server process exited during start-up");
      try {
        if (client.get("/health/ready").send().await().statusCode() == 200) {
          return;
        }
      } catch (Exception e) {
        // not listening yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("the server did not become ready within 60 s");
  }
}
