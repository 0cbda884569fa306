package io.imskms.redis;

import io.imskms.core.replay.ReplayDigest;
import io.imskms.core.replay.ReplayStore;
import io.imskms.core.replay.ReplayStoreException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClientOptions;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.RedisRole;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The replay store on Redis, through Vert.x's own (non-blocking) Redis client. One record per
 * accepted request: {@code SET <prefix><hex digest> <timestamp> NX PX <ttl>}, atomic in Redis, so
 * that of two nodes recording the same request exactly one succeeds.
 *
 * <p>On the request path (a worker thread, never an event loop) the store sends, in one round
 * trip on one pooled connection, {@code GET <prefix>marker} then the SET (then {@code WAIT n t}
 * when replica acknowledgement is configured), and waits for the answer at most {@code
 * timeoutMillis} (+ {@code waitTimeoutMillis}). Anything else — no answer in time, an error, the
 * marker missing (Redis lost its data), a timestamp before the marker's floor, fewer replicas
 * than asked — throws {@link ReplayStoreException}: the request is refused.
 *
 * <p>Readiness: a probe every {@code probeIntervalMillis} sends PING, reads (or, when missing,
 * sets) the marker and reads the eviction policy; the store is ready only after a probe
 * succeeded and no request failed since. While not ready, requests are refused at once (no
 * round trip). Recovery needs no restart: the client's pool drops broken connections and opens
 * new ones, and the next successful probe makes the store ready again.
 *
 * <p>The marker ({@code <prefix>marker}, no expiry) holds the floor: the time at which a node
 * first found the marker missing. A Redis that restarted empty or was flushed has lost the
 * records of requests made before; those requests are refused (timestamp before the floor) for
 * the rest of their window. In cluster mode the per-request marker check and WAIT are not used
 * (keys of one batch would be on different shards); the probe still watches the marker's shard.
 */
public final class RedisReplayStore implements ReplayStore, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisReplayStore.class);
  private static final HexFormat HEX = HexFormat.of();

  private final Vertx vertx;
  private final Redis redis;
  private final RedisReplayOptions options;
  private final String markerKey;
  private final boolean perRequestMarker;
  private final AtomicBoolean closed = new AtomicBoolean();
  private volatile boolean ready;
  private volatile String lastError = "not probed yet";
  private volatile long floor = Long.MIN_VALUE;
  private volatile long lastProbeMillis;
  private volatile long probeTimer = -1;

  private RedisReplayStore(Vertx vertx, Redis redis, RedisReplayOptions options) {
    this.vertx = vertx;
    this.redis = redis;
    this.options = options;
    this.markerKey = options.keyPrefix() + "marker";
    this.perRequestMarker = !options.type().equals("cluster");
  }

  /** The Vert.x client options for {@code o} (never logged: they carry the password). */
  static RedisOptions clientOptions(RedisReplayOptions o) {
    RedisOptions r = new RedisOptions()
        .setEndpoints(new ArrayList<>(o.endpoints()))
        .setMaxPoolSize(32)
        .setMaxPoolWaiting(512)
        .setMaxWaitingHandlers(2048)
        .setPoolRecycleTimeout(15_000)
        .setNetClientOptions(new NetClientOptions()
            .setConnectTimeout((int) Math.max(500, 4 * o.timeoutMillis()))
            .setTcpNoDelay(true)
            .setTcpKeepAlive(true));
    switch (o.type()) {
      case "sentinel":
        r.setType(RedisClientType.SENTINEL).setMasterName(o.masterName())
            .setRole(RedisRole.MASTER).setAutoFailover(true);
        break;
      case "cluster":
        r.setType(RedisClientType.CLUSTER);
        break;
      default:
        r.setType(RedisClientType.STANDALONE);
        break;
    }
    if (o.password() != null) {
      r.setPassword(o.password());
    }
    return r;
  }

  /**
   * Creates the client and starts probing. Returns at once: the store is not ready until the
   * first probe succeeds (a node may start before Redis; it serves nothing until then).
   */
  public static RedisReplayStore open(Vertx vertx, RedisReplayOptions options) {
    RedisReplayStore s = new RedisReplayStore(vertx, Redis.createClient(vertx,
        clientOptions(options)), options);
    LOG.info("replay store: Redis {}", options);
    s.scheduleProbe(0);
    return s;
  }

  /**
   * How long a probe may take: at least 1 s (a new connection on a loaded host), so that a dead
   * or hung Redis makes the node not ready within interval + this; the first probe of a cold JVM
   * gets {@value #PING_DEADLINE_MILLIS} ms.
   */
  long probeDeadlineMillis() {
    if (lastProbeMillis == 0) {
      return PING_DEADLINE_MILLIS; // the first connection of a cold JVM
    }
    return Math.max(1000, options.requestDeadlineMillis());
  }

  /** What /health/ready shows of the store. */
  public record Status(boolean ready, String type, String lastError, long floorMillis,
      long lastProbeMillis) {}

  public Status status() {
    return new Status(ready, options.type(), ready ? null : lastError, floor, lastProbeMillis);
  }

  public boolean ready() {
    return ready;
  }

  public RedisReplayOptions options() {
    return options;
  }

  @Override
  public long floorMillis() {
    return floor;
  }

  String key(byte[] digest) {
    if (digest.length != ReplayDigest.LENGTH) {
      throw new IllegalArgumentException("digest must be " + ReplayDigest.LENGTH + " bytes");
    }
    return options.keyPrefix() + HEX.formatHex(digest);
  }

  @Override
  public boolean recordIfAbsent(byte[] digest, long stamp, long ttlMillis)
      throws ReplayStoreException {
    if (ttlMillis < 1) {
      throw new IllegalArgumentException("ttl must be at least 1 ms");
    }
    String key = key(digest);
    if (!ready) {
      throw new ReplayStoreException("Redis not ready: " + lastError);
    }
    List<Request> batch = new ArrayList<>(3);
    if (perRequestMarker) {
      batch.add(Request.cmd(Command.GET).arg(markerKey));
    }
    batch.add(Request.cmd(Command.SET).arg(key).arg(stamp).arg("NX").arg("PX").arg(ttlMillis));
    if (options.waits()) {
      batch.add(Request.cmd(Command.WAIT).arg(options.waitReplicas())
          .arg(options.waitTimeoutMillis()));
    }
    // singletonList: a SET NX that found the key answers nil (List.of refuses null)
    List<Response> answers = await(batch.size() == 1
        ? redis.send(batch.get(0)).map(java.util.Collections::singletonList)
        : redis.batch(batch), "SET");
    int i = 0;
    if (perRequestMarker) {
      Response marker = answers.get(i++);
      if (marker == null) {
        fail("the marker key is missing: Redis lost its data (restarted empty or flushed)");
        throw new ReplayStoreException("Redis lost its records (marker missing)");
      }
      long f = parseLong(marker.toString());
      if (f > floor) {
        floor = f;
      }
      if (stamp < f) {
        throw new ReplayStoreException("timestamp before the store's floor (Redis lost its"
            + " records)");
      }
    }
    Response set = answers.get(i++);
    boolean recorded = set != null && "OK".equals(set.toString());
    if (options.waits()) {
      Response acks = answers.get(i);
      long n = acks == null ? 0 : acks.toLong();
      if (recorded && n < options.waitReplicas()) {
        fail("WAIT: " + n + " of " + options.waitReplicas() + " replicas acknowledged within "
            + options.waitTimeoutMillis() + " ms");
        throw new ReplayStoreException("only " + n + " of " + options.waitReplicas()
            + " replicas acknowledged the record");
      }
    }
    return recorded;
  }

  /** Deletes the record only if it holds {@code stamp}: one script, atomic in Redis. */
  private static final String COMPARE_AND_DELETE =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"
      + " return 0";

  @Override
  public boolean remove(byte[] digest, long stamp) throws ReplayStoreException {
    String key = key(digest);
    if (!ready) {
      throw new ReplayStoreException("Redis not ready: " + lastError);
    }
    Response r = await(redis.send(Request.cmd(Command.EVAL).arg(COMPARE_AND_DELETE).arg(1)
        .arg(key).arg(stamp)).map(java.util.Collections::singletonList), "EVAL").get(0);
    return r != null && r.toLong() == 1L;
  }

  /** Waits on a worker thread for at most the request deadline; any failure marks not-ready. */
  private List<Response> await(Future<List<Response>> f, String what)
      throws ReplayStoreException {
    if (Context.isOnEventLoopThread()) {
      throw new IllegalStateException("the replay store blocks: call it from a worker thread");
    }
    long deadline = options.requestDeadlineMillis();
    try {
      return f.toCompletionStage().toCompletableFuture().get(deadline, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      String m = what + ": no answer from Redis within " + deadline + " ms";
      fail(m);
      throw new ReplayStoreException(m);
    } catch (ExecutionException e) {
      String m = what + ": " + describe(e.getCause());
      fail(m);
      throw new ReplayStoreException(m);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ReplayStoreException(what + ": interrupted");
    }
  }

  private void fail(String reason) {
    if (closed.get()) {
      return;
    }
    if (ready) {
      LOG.error("replay store not ready: {}", reason);
    }
    lastError = reason;
    ready = false;
  }

  /** An error for logs and /health/ready: its class and first line, never a key or password. */
  static String describe(Throwable t) {
    if (t == null) {
      return "unknown error";
    }
    String m = t.getMessage();
    if (m == null || m.isBlank()) {
      return t.getClass().getSimpleName();
    }
    int nl = m.indexOf('\n');
    m = nl < 0 ? m : m.substring(0, nl);
    if (m.length() > 200) {
      m = m.substring(0, 200);
    }
    return t.getClass().getSimpleName() + ": " + m;
  }

  private static long parseLong(String s) throws ReplayStoreException {
    try {
      return Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      throw new ReplayStoreException("the marker key does not hold a time");
    }
  }

  // ---------------------------------------------------------------- probe

  private void scheduleProbe(long delay) {
    if (closed.get()) {
      return;
    }
    if (delay <= 0) {
      probe();
    } else {
      probeTimer = vertx.setTimer(delay, id -> probe());
    }
  }

  private void probe() {
    if (closed.get()) {
      return;
    }
    Promise<Void> done = Promise.promise();
    long deadline = probeDeadlineMillis();
    long timer = vertx.setTimer(deadline, id -> done.tryFail("probe: no answer from Redis within "
        + deadline + " ms"));
    probeOnce().onComplete(ar -> {
      if (ar.succeeded()) {
        done.tryComplete();
      } else {
        done.tryFail("probe: " + describe(ar.cause()));
      }
    });
    done.future().onComplete(ar -> {
      vertx.cancelTimer(timer);
      if (closed.get()) {
        return;
      }
      lastProbeMillis = System.currentTimeMillis();
      if (ar.succeeded()) {
        if (!ready) {
          LOG.info("replay store ready (Redis {}, floor {})", options.type(), floor);
        }
        lastError = null;
        ready = true;
      } else {
        fail(ar.cause().getMessage());
      }
      scheduleProbe(options.probeIntervalMillis());
    });
  }

  /**
   * PING, the marker (set when missing), the eviction policy, and the online replicas when WAIT
   * is used; one round trip on one connection. Cluster: one command at a time, each to its
   * shard, and CLUSTER INFO must say {@code cluster_state:ok} (every slot served).
   */
  private Future<Void> probeOnce() {
    List<Request> batch = new ArrayList<>(List.of(
        Request.cmd(Command.PING),
        Request.cmd(Command.SET).arg(markerKey).arg(System.currentTimeMillis()).arg("NX"),
        Request.cmd(Command.GET).arg(markerKey),
        Request.cmd(Command.INFO).arg("memory")));
    if (options.waits()) {
      batch.add(Request.cmd(Command.INFO).arg("replication"));
    }
    if (!perRequestMarker) {
      batch.add(Request.cmd(Command.CLUSTER).arg("INFO"));
    }
    Future<List<Response>> answers;
    if (perRequestMarker) {
      answers = redis.batch(batch);
    } else {
      Future<List<Response>> chain = Future.succeededFuture(new ArrayList<>());
      for (Request r : batch) {
        chain = chain.compose(list -> redis.send(r).map(x -> {
          list.add(x);
          return list;
        }));
      }
      answers = chain;
    }
    return answers.compose(this::probed);
  }

  private Future<Void> probed(List<Response> a) {
    Response set = a.get(1);
    if (set != null && "OK".equals(set.toString())) {
      LOG.warn("replay store: marker key missing (new or emptied Redis): requests made before"
          + " now are refused for the rest of their window");
    }
    Response marker = a.get(2);
    if (marker == null) {
      return Future.failedFuture("the marker key vanished");
    }
    long f;
    try {
      f = Long.parseLong(marker.toString().trim());
    } catch (NumberFormatException e) {
      return Future.failedFuture("the marker key does not hold a time");
    }
    if (f > floor) {
      floor = f;
    }
    String policy = infoField(a.get(3) == null ? "" : a.get(3).toString(), "maxmemory_policy");
    if (policy != null && !policy.equals("noeviction")) {
      return Future.failedFuture("Redis maxmemory-policy is " + policy + ": replay records"
          + " could be evicted early; set maxmemory-policy noeviction");
    }
    if (!perRequestMarker) {
      Response ci = a.get(a.size() - 1);
      String state = infoField(ci == null ? "" : ci.toString(), "cluster_state");
      if (!"ok".equals(state)) {
        return Future.failedFuture("Redis cluster_state is " + state + ": some slots are not"
            + " served");
      }
    }
    if (options.waits()) {
      long online = onlineReplicas(a.get(4) == null ? "" : a.get(4).toString());
      if (online < options.waitReplicas()) {
        return Future.failedFuture("Redis has " + online + " online replicas, redis.waitReplicas"
            + " is " + options.waitReplicas());
      }
    }
    return Future.succeededFuture();
  }

  /** The replicas an INFO replication answer lists as online. */
  static long onlineReplicas(String info) {
    long n = 0;
    for (String line : info.split("\r?\n")) {
      if (line.matches("slave\\d+:.*") && line.contains("state=online")) {
        n++;
      }
    }
    return n;
  }

  /** One {@code name:value} line of an INFO answer, or null. */
  static String infoField(String info, String name) {
    for (String line : info.split("\r?\n")) {
      if (line.startsWith(name + ":")) {
        return line.substring(name.length() + 1).trim();
      }
    }
    return null;
  }

  /** How long {@link #ping} waits: a first connection from a cold JVM takes about a second. */
  static final long PING_DEADLINE_MILLIS = 5000;

  /**
   * PING and the eviction policy, for {@code kms config check}: null if Redis answered within
   * {@value #PING_DEADLINE_MILLIS} ms and does not evict, else why not. Blocks; not for an
   * event loop.
   */
  public static String ping(Vertx vertx, RedisReplayOptions options) {
    Redis r = Redis.createClient(vertx, clientOptions(options));
    try {
      r.send(Request.cmd(Command.PING)).toCompletionStage().toCompletableFuture()
          .get(PING_DEADLINE_MILLIS, TimeUnit.MILLISECONDS);
      Response info = r.send(Request.cmd(Command.INFO).arg("memory")).toCompletionStage()
          .toCompletableFuture().get(PING_DEADLINE_MILLIS, TimeUnit.MILLISECONDS);
      String policy = infoField(info == null ? "" : info.toString(), "maxmemory_policy");
      if (policy != null && !policy.equals("noeviction")) {
        return "maxmemory-policy is " + policy + " (must be noeviction)";
      }
      return null;
    } catch (TimeoutException e) {
      return "no answer within " + PING_DEADLINE_MILLIS + " ms";
    } catch (ExecutionException e) {
      return describe(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    } finally {
      r.close();
    }
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      if (probeTimer >= 0) {
        vertx.cancelTimer(probeTimer);
      }
      ready = false;
      lastError = "closed";
      redis.close();
    }
  }
}
