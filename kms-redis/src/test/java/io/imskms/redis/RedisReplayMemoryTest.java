package io.imskms.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.replay.ReplayDigest;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The memory one replay record takes in Redis (docs/performance.md, "Replay store on Redis"):
 * MEMORY USAGE of one key, and the growth of INFO memory's used_memory over 100 000 records
 * written exactly as the store writes them (the same key shape, value and expiry), on a real
 * redis-server. Prints the numbers; asserts only that they are in the documented range.
 */
class RedisReplayMemoryTest {
  private static final int N = 100_000;

  @Test
  void memoryPerRecord_isMeasured() throws Exception {
    Vertx vertx = Vertx.vertx();
    try (RedisProcess redis = RedisProcess.start("memory");
        RedisReplayStore store = RedisReplayStore.open(vertx, new RedisReplayOptions(
            "standalone", List.of(redis.endpoint()), "", 1000, 0, 0, null, "imskms:replay:",
            500))) {
      Redis raw = Redis.createClient(vertx, redis.endpoint());
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (!store.ready() && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertTrue(store.ready());
      long before = usedMemory(raw);
      long stamp = System.currentTimeMillis();
      // one record through the store itself, then the rest in pipelined batches of its SET
      byte[] first = ReplayDigest.of("ue:sip:alice@ims.example.com", nonce(0));
      assertTrue(store.recordIfAbsent(first, stamp, 300_000));
      for (int start = 1; start < N; start += 1000) {
        List<Request> batch = new ArrayList<>(1000);
        for (int i = start; i < Math.min(N, start + 1000); i++) {
          byte[] d = ReplayDigest.of("ue:sip:user" + i + "@ims.example.com", nonce(i));
          batch.add(Request.cmd(Command.SET).arg(store.key(d)).arg(stamp).arg("NX").arg("PX")
              .arg(300_000));
        }
        raw.batch(batch).await();
      }
      assertEquals(N + 1, raw.send(Request.cmd(Command.DBSIZE)).await().toLong()); // + marker
      long after = usedMemory(raw);
      long usage = raw.send(Request.cmd(Command.MEMORY).arg("USAGE").arg(store.key(first)))
          .await().toLong();
      double perEntry = (after - before) / (double) N;
      System.out.printf("RedisReplayMemoryTest: MEMORY USAGE of one record = %d bytes; used_memory"
          + " grew %.1f MiB for %d records = %.1f bytes per record (redis-server %s)%n", usage,
          (after - before) / 1048576.0, N, perEntry, info(raw, "server", "redis_version"));
      assertTrue(usage > 40 && usage < 200, "MEMORY USAGE " + usage);
      assertTrue(perEntry > 40 && perEntry < 300, "bytes per record " + perEntry);
      // The round trip a request waits for on its worker thread (informational, not asserted).
      long[] us = new long[2000];
      for (int i = 0; i < us.length; i++) {
        byte[] d = ReplayDigest.of("ue:sip:timing@ims.example.com", nonce(N + i));
        long t0 = System.nanoTime();
        assertTrue(store.recordIfAbsent(d, stamp, 300_000));
        us[i] = (System.nanoTime() - t0) / 1000;
      }
      java.util.Arrays.sort(us);
      System.out.printf("RedisReplayMemoryTest: recordIfAbsent (GET marker + SET NX PX, one round"
          + " trip, loopback) median %d us, p99 %d us over %d sequential calls%n",
          us[us.length / 2], us[us.length * 99 / 100], us.length);
      raw.close();
    } finally {
      vertx.close().await();
    }
  }

  private static byte[] nonce(long n) {
    return ByteBuffer.allocate(16).putLong(0x5eed).putLong(n).array();
  }

  private static long usedMemory(Redis raw) {
    return Long.parseLong(info(raw, "memory", "used_memory"));
  }

  private static String info(Redis raw, String section, String field) {
    Future<Response> f = raw.send(Request.cmd(Command.INFO).arg(section));
    return RedisReplayStore.infoField(f.await().toString(), field);
  }
}
