package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.RedisPassword;
import io.imskms.core.replay.ReplayCache;
import io.imskms.core.replay.ReplayGuard;
import io.imskms.core.replay.SharedReplayGuard;
import io.imskms.redis.RedisReplayOptions;
import io.imskms.redis.RedisReplayStore;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.time.Duration;

/**
 * The node's replay defence as {@code replay.store} says: {@code memory}, a {@link ReplayCache}
 * in this process (always ready), or {@code redis}, a {@link SharedReplayGuard} over a {@link
 * RedisReplayStore} shared by every node (ready while Redis answers its probe). /health/ready
 * shows it as the {@code replay} member.
 */
public final class ReplayDefence {
  private final ReplayGuard guard;
  private final RedisReplayStore store;

  private ReplayDefence(ReplayGuard guard, RedisReplayStore store) {
    this.guard = guard;
    this.store = store;
  }

  /** Opens the configured store; with Redis, the client and its probe run on {@code vertx}. */
  public static ReplayDefence open(ApiConfig config, Vertx vertx, Clock clock)
      throws ConfigException {
    Duration window = Duration.ofSeconds(config.core().replayWindowSeconds());
    if (!config.replay().redis()) {
      return new ReplayDefence(new ReplayCache(window, config.core().replayMaxEntries(), clock),
          null);
    }
    RedisReplayStore store = RedisReplayStore.open(vertx, redisOptions(config.redis()));
    return new ReplayDefence(new SharedReplayGuard(store, window, clock), store);
  }

  /** The {@code redis} section as the store's options (password read from its file). */
  public static RedisReplayOptions redisOptions(ApiConfig.Redis r) throws ConfigException {
    try {
      return new RedisReplayOptions(r.type(), r.endpoints(), r.masterName(), r.timeoutMillis(),
          r.waitReplicas(), r.waitTimeoutMillis(), RedisPassword.read(r), r.keyPrefix(),
          r.probeIntervalMillis());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
  }

  public ReplayGuard guard() {
    return guard;
  }

  public boolean ready() {
    return store == null || store.ready();
  }

  /** The {@code replay} member of /health/ready. */
  public JsonObject status() {
    if (store == null) {
      return new JsonObject().put("ready", true).put("store", "memory");
    }
    RedisReplayStore.Status s = store.status();
    JsonObject j = new JsonObject().put("ready", s.ready()).put("store", "redis")
        .put("type", s.type());
    if (s.lastError() != null) {
      j.put("error", s.lastError());
    }
    return j;
  }

  /** Stops the probe and closes the Redis client (Vert.x closing does it too). */
  public void close() {
    if (store != null) {
      store.close();
    }
  }
}
