package io.imskms.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.replay.ReplayException;
import io.imskms.core.replay.ReplayException.Reason;
import io.imskms.core.replay.SharedReplayGuard;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * {@code redis.type: cluster} against a real three-shard Redis Cluster (three {@code
 * redis-server --cluster-enabled yes}, joined by {@code redis-cli --cluster create}): two stores
 * (two nodes) share records spread over every shard; a shard killed makes the stores refuse and
 * go not ready (cluster_state fail), never accept.
 */
class RedisClusterTest {
  private static final String ALICE = "ue:sip:alice@ims.example.com";

  private static byte[] nonce(long n) {
    return ByteBuffer.allocate(16).putLong(0x5eed).putLong(n).array();
  }

  private static void await(java.util.function.Supplier<String> what, long ms,
      BooleanSupplier cond) throws Exception {
    long end = System.nanoTime() + ms * 1_000_000;
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError(what.get() + " not within " + ms + " ms");
      }
      Thread.sleep(50);
    }
  }

  private static String redisCli() {
    return Path.of(RedisProcess.binary()).resolveSibling("redis-cli").toString();
  }

  @Test
  void twoStoresOnAThreeShardCluster_shareRecords_andALostShardFailsClosed() throws Exception {
    Vertx vertx = Vertx.vertx();
    List<RedisProcess> shards = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        shards.add(RedisProcess.start("cluster" + i, "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"));
      }
      List<String> create = new ArrayList<>(List.of(redisCli(), "--cluster", "create"));
      for (RedisProcess r : shards) {
        create.add("127.0.0.1:" + r.port());
      }
      create.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
      Process p = new ProcessBuilder(create).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes());
      assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
      Redis probe = Redis.createClient(vertx, shards.get(0).endpoint());
      await(() -> "cluster_state ok", 20_000, () -> "ok".equals(RedisReplayStore.infoField(
          probe.send(Request.cmd(Command.CLUSTER).arg("INFO")).await().toString(),
          "cluster_state")));
      probe.close();

      List<String> seeds = shards.stream().map(RedisProcess::endpoint).toList();
      RedisReplayOptions o = new RedisReplayOptions("cluster", seeds, "", 500, 0, 0, null,
          "imskms:replay:", 500);
      try (RedisReplayStore a = RedisReplayStore.open(vertx, o);
          RedisReplayStore b = RedisReplayStore.open(vertx, o)) {
        await(() -> "ready " + a.status() + " " + b.status(), 15_000,
            () -> a.ready() && b.ready());
        SharedReplayGuard nodeA = new SharedReplayGuard(a, Duration.ofSeconds(60),
            Clock.systemUTC());
        SharedReplayGuard nodeB = new SharedReplayGuard(b, Duration.ofSeconds(60),
            Clock.systemUTC());
        Instant t = Instant.now();
        for (int i = 0; i < 30; i++) { // 30 digests: every shard gets some
          nodeA.checkAndRecord(ALICE, nonce(i), t);
        }
        for (int i = 0; i < 30; i++) {
          int n = i;
          assertEquals(Reason.REPLAY, assertThrows(ReplayException.class,
              () -> nodeB.checkAndRecord(ALICE, nonce(n), t)).reason());
        }
        long[] keys = new long[3];
        for (int i = 0; i < 3; i++) {
          Redis c = Redis.createClient(vertx, shards.get(i).endpoint());
          keys[i] = c.send(Request.cmd(Command.DBSIZE)).await().toLong();
          c.close();
        }
        assertTrue(keys[0] > 0 && keys[1] > 0 && keys[2] > 0,
            "records on every shard: " + java.util.Arrays.toString(keys));

        shards.get(2).kill();
        await(() -> "not ready " + a.status(), 10_000, () -> !a.ready() && !b.ready());
        // Nothing accepted while a shard is lost: each request is refused or a replay.
        for (int i = 0; i < 30; i++) {
          int n = i;
          Reason r = assertThrows(ReplayException.class,
              () -> nodeA.checkAndRecord(ALICE, nonce(n), t)).reason();
          assertTrue(r == Reason.REPLAY || r == Reason.STORE_UNAVAILABLE, r.name());
        }
        System.out.printf("RedisClusterTest: records per shard %s; not ready after a shard was"
            + " killed (%s)%n", java.util.Arrays.toString(keys), a.status().lastError());
      }
    } finally {
      for (RedisProcess r : shards) {
        r.close();
      }
      vertx.close().await();
    }
  }
}
