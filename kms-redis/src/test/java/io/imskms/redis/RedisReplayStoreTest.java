package io.imskms.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.replay.ReplayDigest;
import io.imskms.core.replay.ReplayException;
import io.imskms.core.replay.ReplayException.Reason;
import io.imskms.core.replay.SharedReplayGuard;
import io.imskms.core.replay.ReplayStoreException;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link RedisReplayStore} against real {@code redis-server} processes (free ports, own
 * directories): records across two stores (two nodes), the record's expiry, Redis killed (refused
 * and not ready within 2 s), Redis back empty (ready within 5 s, earlier requests refused by the
 * floor), a primary with a replica and WAIT, and an evicting Redis refused.
 */
class RedisReplayStoreTest {
  private static final Duration WINDOW = Duration.ofSeconds(60);
  private static final String ALICE = "ue:sip:alice@ims.example.com";
  private static Vertx vertx;

  @BeforeAll
  static void vertx() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void close() {
    vertx.close().await();
  }

  private static RedisReplayOptions options(String endpoint, int waitReplicas) {
    return new RedisReplayOptions("standalone", List.of(endpoint), "", 250, waitReplicas,
        waitReplicas > 0 ? 500 : 0, null, "imskms:replay:", 500);
  }

  private static byte[] nonce(long n) {
    return ByteBuffer.allocate(16).putLong(0x5eed).putLong(n).array();
  }

  private static void await(String what, long ms, BooleanSupplier cond) throws Exception {
    long end = System.nanoTime() + ms * 1_000_000;
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError(what + " not within " + ms + " ms");
      }
      Thread.sleep(20);
    }
  }

  private static Response raw(RedisProcess r, Request req) {
    Redis c = Redis.createClient(vertx, r.endpoint());
    try {
      return c.send(req).await();
    } finally {
      c.close();
    }
  }

  private static Reason refusal(SharedReplayGuard g, byte[] nonce, Instant t) {
    return assertThrows(ReplayException.class, () -> g.checkAndRecord(ALICE, nonce, t)).reason();
  }

  @Test
  void aRequestRecordedThroughOneNode_isAReplayAtTheOther_andItsRecordExpiresWithItsWindow()
      throws Exception {
    try (RedisProcess redis = RedisProcess.start("two-nodes");
        RedisReplayStore a = RedisReplayStore.open(vertx, options(redis.endpoint(), 0));
        RedisReplayStore b = RedisReplayStore.open(vertx, options(redis.endpoint(), 0))) {
      await("ready", 5000, () -> a.ready() && b.ready());
      SharedReplayGuard nodeA = new SharedReplayGuard(a, WINDOW, Clock.systemUTC());
      SharedReplayGuard nodeB = new SharedReplayGuard(b, WINDOW, Clock.systemUTC());
      Instant t = Instant.now();
      nodeA.checkAndRecord(ALICE, nonce(1), t);
      assertEquals(Reason.REPLAY, refusal(nodeB, nonce(1), t));
      assertEquals(Reason.REPLAY, refusal(nodeA, nonce(1), t));
      nodeB.checkAndRecord(ALICE, nonce(2), t);

      String key = a.key(ReplayDigest.of(ALICE, nonce(1)));
      assertTrue(key.matches("imskms:replay:[0-9a-f]{32}"), key);
      long pttl = raw(redis, Request.cmd(Command.PTTL).arg(key)).toLong();
      assertTrue(pttl > 55_000 && pttl <= 60_000, "ttl = rest of the window: " + pttl);
      assertEquals(Long.toString(t.toEpochMilli()),
          raw(redis, Request.cmd(Command.GET).arg(key)).toString());

      // forget: only the record of that timestamp; then the same request may be sent again
      assertFalse(nodeB.forget(ALICE, nonce(1), t.plusMillis(1)));
      assertTrue(nodeB.forget(ALICE, nonce(1), t));
      nodeB.checkAndRecord(ALICE, nonce(1), t);
    }
  }

  @Test
  void redisKilled_refusesAndGoesNotReadyWithin2s_thenBackEmpty_readyWithin5sWithAFloor()
      throws Exception {
    try (RedisProcess redis = RedisProcess.start("outage");
        RedisReplayStore store = RedisReplayStore.open(vertx, options(redis.endpoint(), 0))) {
      await("ready", 5000, store::ready);
      SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, Clock.systemUTC());
      Instant before = Instant.now();
      g.checkAndRecord(ALICE, nonce(1), before);

      redis.kill();
      long killed = System.nanoTime();
      await("not ready", 2000, () -> !store.ready());
      System.out.printf("RedisReplayStore: not ready %d ms after redis-server was killed%n",
          (System.nanoTime() - killed) / 1_000_000);
      assertNotNull(store.status().lastError());
      // Refused, never accepted, for a new request and for the replay alike.
      assertEquals(Reason.STORE_UNAVAILABLE, refusal(g, nonce(2), Instant.now()));
      assertEquals(Reason.STORE_UNAVAILABLE, refusal(g, nonce(1), before));

      redis.restart(); // same port, empty: the record of nonce 1 is gone
      long back = System.nanoTime();
      await("ready again", 5000, store::ready);
      System.out.printf("RedisReplayStore: ready %d ms after redis-server came back%n",
          (System.nanoTime() - back) / 1_000_000);
      // The floor: the replay of a request made before the loss is still refused.
      assertTrue(store.floorMillis() > before.toEpochMilli());
      assertEquals(Reason.STORE_UNAVAILABLE, refusal(g, nonce(1), before));
      Thread.sleep(5); // a fresh request, made after the floor
      g.checkAndRecord(ALICE, nonce(3), Instant.now());
      assertEquals(Reason.REPLAY, refusal(g, nonce(3), Instant.now()));
    }
  }

  @Test
  void aFlushedRedis_isNoticedOnTheRequestPath_beforeAnyReplayIsServed() throws Exception {
    try (RedisProcess redis = RedisProcess.start("flush");
        RedisReplayStore store = RedisReplayStore.open(vertx,
            new RedisReplayOptions("standalone", List.of(redis.endpoint()), "", 250, 0, 0, null,
                "imskms:replay:", 60_000))) { // the probe will not run again during the test
      await("ready", 5000, store::ready);
      SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, Clock.systemUTC());
      Instant t = Instant.now();
      g.checkAndRecord(ALICE, nonce(1), t);
      raw(redis, Request.cmd(Command.FLUSHALL));
      assertEquals(Reason.STORE_UNAVAILABLE, refusal(g, nonce(1), t));
      assertFalse(store.ready());
    }
  }

  @Test
  void withAReplicaAndWait_recordsAreAcknowledged_andALostReplicaRefusesRequests()
      throws Exception {
    try (RedisProcess primary = RedisProcess.start("primary");
        RedisProcess replica = RedisProcess.replicaOf(primary)) {
      await("replica online", 10_000, () -> RedisReplayStore.onlineReplicas(
          raw(primary, Request.cmd(Command.INFO).arg("replication")).toString()) == 1);
      try (RedisReplayStore store = RedisReplayStore.open(vertx,
          options(primary.endpoint(), 1))) {
        await("ready", 5000, store::ready);
        SharedReplayGuard g = new SharedReplayGuard(store, WINDOW, Clock.systemUTC());
        Instant t = Instant.now();
        g.checkAndRecord(ALICE, nonce(1), t);
        String key = store.key(ReplayDigest.of(ALICE, nonce(1)));
        // acknowledged by the replica before the answer: it holds the record now
        assertEquals(Long.toString(t.toEpochMilli()),
            raw(replica, Request.cmd(Command.GET).arg(key)).toString());
        assertEquals(Reason.REPLAY, refusal(g, nonce(1), t));

        replica.kill();
        assertEquals(Reason.STORE_UNAVAILABLE, refusal(g, nonce(2), Instant.now()));
        await("not ready", 2000, () -> !store.ready());
        assertTrue(store.status().lastError().contains("replica"),
            store.status().lastError());
      }
    }
  }

  @Test
  void anEvictingRedis_isNotReady() throws Exception {
    try (RedisProcess redis = RedisProcess.start("evicting", "--maxmemory-policy",
        "allkeys-lru");
        RedisReplayStore store = RedisReplayStore.open(vertx, options(redis.endpoint(), 0))) {
      await("refused for its eviction policy", 5000, () -> {
        String e = store.status().lastError();
        return e != null && e.contains("noeviction");
      });
      assertFalse(store.ready());
      assertThrows(ReplayStoreException.class,
          () -> store.recordIfAbsent(new byte[16], 1, 1000));
      assertNotNull(RedisReplayStore.ping(vertx, options(redis.endpoint(), 0)));
      raw(redis, Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory-policy")
          .arg("noeviction"));
      await("ready", 5000, store::ready);
      assertNull(RedisReplayStore.ping(vertx, options(redis.endpoint(), 0)));
    }
  }

  @Test
  void options_refuseWhatCannotWork_andNeverPrintThePassword() {
    assertThrows(IllegalArgumentException.class, () -> new RedisReplayOptions("standalone",
        List.of("redis://:secret@127.0.0.1:1"), "", 250, 0, 0, null, "p:", 500));
    assertThrows(IllegalArgumentException.class, () -> new RedisReplayOptions("standalone",
        List.of("http://127.0.0.1:1"), "", 250, 0, 0, null, "p:", 500));
    assertThrows(IllegalArgumentException.class, () -> new RedisReplayOptions("sentinel",
        List.of("redis://127.0.0.1:26379"), "", 250, 0, 0, null, "p:", 500));
    assertThrows(IllegalArgumentException.class, () -> new RedisReplayOptions("cluster",
        List.of("redis://127.0.0.1:7000"), "", 250, 1, 100, null, "p:", 500));
    assertThrows(IllegalArgumentException.class, () -> new RedisReplayOptions("standalone",
        List.of("redis://a:1", "redis://b:1"), "", 250, 0, 0, null, "p:", 500));
    assertThrows(IllegalArgumentException.class, () -> new RedisReplayOptions("bogus",
        List.of("redis://a:1"), "", 250, 0, 0, null, "p:", 500));
    RedisReplayOptions s = new RedisReplayOptions("sentinel",
        List.of("redis://10.0.0.1:26379", "redis://10.0.0.2:26379"), "kms", 250, 1, 100,
        "pa55-w0rd", "imskms:replay:", 500);
    assertFalse(s.toString().contains("pa55-w0rd"), s.toString());
    assertEquals("kms", RedisReplayStore.clientOptions(s).getMasterName());
    assertEquals(io.vertx.redis.client.RedisClientType.SENTINEL,
        RedisReplayStore.clientOptions(s).getType());
    assertEquals(io.vertx.redis.client.RedisClientType.CLUSTER,
        RedisReplayStore.clientOptions(new RedisReplayOptions("cluster",
            List.of("redis://10.0.0.1:7000"), "", 250, 0, 0, null, "p:", 500)).getType());
  }
}
