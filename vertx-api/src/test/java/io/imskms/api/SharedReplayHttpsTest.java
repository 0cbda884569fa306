package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.config.ConfigLoader;
import io.imskms.client.Bootstrapping;
import io.imskms.client.Credential;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.Role;
import io.imskms.redis.RedisProcess;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two KMS nodes (two {@link KmsApplication}s: own ports, audit logs and replay defences) on one
 * token and one real {@code redis-server} ({@code replay.store: redis}), over real HTTPS: a
 * request served by one node is a replay at the other; Redis killed → both nodes answer 503
 * REPLAY_STORE_UNAVAILABLE and are not ready within 2 s, and nothing is served meanwhile, not
 * even a replay; Redis back (empty, same port) → both serve again within 5 s without a restart,
 * and a request from before the outage is still refused.
 */
class SharedReplayHttpsTest {
  private static RedisProcess redis;
  private static TestKms node1;
  private static KmsApplication node2;
  private static final Vertx clients = Vertx.vertx();
  private static WebClient ue2;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisProcess.start("api");
    Consumer<Map<String, String>> shared = env -> {
      env.put("KMS_REPLAY_STORE", "redis");
      env.put("KMS_REDIS_ENDPOINTS", redis.endpoint());
      env.put("KMS_REDIS_TIMEOUT_MILLIS", "250");
    };
    node1 = TestKms.start(shared);
    // The second node: the first one's token, directory and dev TLS material (so one CA), its
    // own port, key manifest and audit log.
    Path work2 = Files.createTempDirectory(node1.work, "node2-");
    Map<String, String> env = new HashMap<>();
    env.put("KMS_HTTP_HOST", "127.0.0.1");
    env.put("KMS_HTTP_PORT", "0");
    env.put("KMS_DEV_ENABLED", "true");
    env.put("KMS_DEV_TLS_DIR", node1.work.resolve("tls").toString());
    env.put("KMS_DEV_MAILBOXES", TestKms.VM_BOB + "," + TestKms.VM_CAROL);
    env.put("KMS_HSM_MODULE", node1.token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", node1.token.label());
    env.put("KMS_HSM_PIN", node1.token.userPinForTest());
    env.put("KMS_HSM_POOL_SIZE", "2");
    env.put("KMS_CORE_DIRECTORY_FILE", node1.work.resolve("directory.json").toString());
    env.put("KMS_CORE_PROVISION_KEYS", "true");
    env.put("KMS_CORE_KEY_MANIFEST", work2.resolve("keys.json").toString());
    env.put("KMS_AUDIT_DIR", work2.resolve("audit").toString());
    env.put("KMS_AUDIT_NODE", "node-2");
    env.put("KMS_AUDIT_ORIGIN", "imskms.example/audit/node-2");
    shared.accept(env);
    node2 = KmsApplication.start(ConfigLoader.load(null, env), env);
    ue2 = WebClient.create(clients, new WebClientOptions().setSsl(true).setVerifyHost(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(new PemTrustOptions()
            .addCertPath(node1.work.resolve("tls/ca.pem").toString()))
        .setDefaultHost("localhost").setDefaultPort(node2.port()));
    awaitReady(true, 10_000);
  }

  @AfterAll
  static void stop() {
    if (ue2 != null) {
      ue2.close();
    }
    clients.close().await();
    if (node2 != null) {
      node2.close(); // its C_Finalize ends node1's module too: node1 closes right after
    }
    if (node1 != null) {
      node1.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  private static HttpResponse<Buffer> post(WebClient c, JsonObject body) {
    return c.post("/v1/bootstrap").putHeader("content-type", "application/json")
        .sendBuffer(body.toBuffer()).await();
  }

  private static String metrics() {
    return node1.ue.get("/metrics").send().await().bodyAsString();
  }

  private static JsonObject bootstrapRequest(Credential cred) throws Exception {
    Bootstrapping.Pending p = node1.bootstrapping.start(cred);
    return JsonMessages.toJson(BootstrapRequest.decode(p.requestBytes()));
  }

  private static boolean ready(WebClient c) {
    HttpResponse<Buffer> r = c.get("/health/ready").send().await();
    boolean replayReady = r.bodyAsJsonObject().getJsonObject("replay").getBoolean("ready");
    assertEquals(r.statusCode() == 200, replayReady && r.bodyAsJsonObject()
        .getJsonObject("hsm").getBoolean("ready"), r.bodyAsString());
    return r.statusCode() == 200;
  }

  /** Waits until both nodes are (not) ready; returns how long it took. */
  private static long awaitReady(boolean want, long maxMs) throws InterruptedException {
    long t0 = System.nanoTime();
    while (ready(node1.ue) != want || ready(ue2) != want) {
      if (System.nanoTime() - t0 > maxMs * 1_000_000) {
        throw new AssertionError("nodes not " + (want ? "ready" : "not ready") + " within "
            + maxMs + " ms");
      }
      Thread.sleep(50);
    }
    return (System.nanoTime() - t0) / 1_000_000;
  }

  @Test
  void aRequestServedByOneNode_isAReplayAtTheOther_andRedisDownAndBack_failsClosedThenResumes()
      throws Exception {
    Credential alice = node1.enrol(Role.UE, TestKms.ALICE);
    JsonObject readyJson = node1.ue.get("/health/ready").send().await().bodyAsJsonObject();
    assertEquals(new JsonObject().put("ready", true).put("store", "redis")
        .put("type", "standalone"), readyJson.getJsonObject("replay"));
    String m = metrics();
    assertTrue(m.contains("kms_replay_store_ready 1.0"), () -> m.lines()
        .filter(l -> l.contains("replay") || l.contains("kms_hsm_ready")).toList().toString());

    // The cross-node replay: served by node 1, refused by node 2 (and by node 1).
    JsonObject captured = bootstrapRequest(alice);
    assertEquals(200, post(node1.ue, captured).statusCode());
    assertProblem(post(ue2, captured), 409, "REPLAY");
    assertProblem(post(node1.ue, captured), 409, "REPLAY");
    // ... and the other way round.
    JsonObject second = bootstrapRequest(alice);
    assertEquals(200, post(ue2, second).statusCode());
    assertProblem(post(node1.ue, second), 409, "REPLAY");

    // A request made now and held back by an attacker until Redis is down and back.
    JsonObject heldBack = bootstrapRequest(alice);

    redis.kill();
    long notReadyMs = awaitReady(false, 2000);
    System.out.printf("SharedReplayHttpsTest: both nodes not ready %d ms after Redis was"
        + " killed%n", notReadyMs);
    JsonObject down = node1.ue.get("/health/ready").send().await().bodyAsJsonObject();
    assertFalse(down.getJsonObject("replay").getBoolean("ready"));
    assertTrue(down.getJsonObject("replay").containsKey("error"), down.encode());
    assertTrue(metrics().contains("kms_replay_store_ready 0.0"));
    // Meanwhile nothing is served: fresh requests, the replays and the held-back request.
    for (int i = 0; i < 5; i++) {
      assertProblem(post(node1.ue, bootstrapRequest(alice)), 503, "REPLAY_STORE_UNAVAILABLE");
      assertProblem(post(ue2, bootstrapRequest(alice)), 503, "REPLAY_STORE_UNAVAILABLE");
    }
    assertProblem(post(ue2, captured), 503, "REPLAY_STORE_UNAVAILABLE");
    assertProblem(post(node1.ue, heldBack), 503, "REPLAY_STORE_UNAVAILABLE");

    redis.restart(); // same port, empty
    long readyMs = awaitReady(true, 5000);
    System.out.printf("SharedReplayHttpsTest: both nodes ready %d ms after Redis came back%n",
        readyMs);
    // Served again, and shared again.
    JsonObject after = bootstrapRequest(alice);
    assertEquals(200, post(ue2, after).statusCode());
    assertProblem(post(node1.ue, after), 409, "REPLAY");
    // Redis forgot every record, but a request made before it did is still refused (floor).
    for (JsonObject old : new JsonObject[] {captured, second, heldBack}) {
      assertNotEquals(200, post(node1.ue, old).statusCode());
      assertNotEquals(200, post(ue2, old).statusCode());
    }
  }
}
