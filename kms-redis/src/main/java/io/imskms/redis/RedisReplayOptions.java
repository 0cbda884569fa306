package io.imskms.redis;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How to reach the shared replay store (docs/configuration.md, "Replay store"). Checked once,
 * when built; {@link #toString()} never shows the password.
 *
 * @param type {@code standalone}, {@code sentinel} or {@code cluster}
 * @param endpoints {@code redis://host:port} URLs: the server (standalone), the sentinels
 *     (sentinel) or seed nodes (cluster); no password in them
 * @param masterName the Sentinel master name (sentinel only)
 * @param timeoutMillis the longest a request waits for Redis before it is refused
 * @param waitReplicas replicas that must acknowledge each record (WAIT); 0 for none
 * @param waitTimeoutMillis how long WAIT waits for them
 * @param password the Redis password (AUTH), or null
 * @param keyPrefix the prefix of every key this store writes
 * @param probeIntervalMillis how often the store is probed (PING, marker, eviction policy)
 */
public record RedisReplayOptions(String type, List<String> endpoints, String masterName,
    long timeoutMillis, int waitReplicas, long waitTimeoutMillis, String password,
    String keyPrefix, long probeIntervalMillis) {

  /** The client types. */
  public static final List<String> TYPES = List.of("standalone", "sentinel", "cluster");

  public RedisReplayOptions {
    type = Objects.requireNonNull(type, "redis.type").toLowerCase(Locale.ROOT);
    if (!TYPES.contains(type)) {
      throw new IllegalArgumentException("redis.type must be one of " + TYPES);
    }
    endpoints = List.copyOf(endpoints);
    if (endpoints.isEmpty()) {
      throw new IllegalArgumentException("redis.endpoints must name at least one"
          + " redis://host:port");
    }
    if (type.equals("standalone") && endpoints.size() != 1) {
      throw new IllegalArgumentException("redis.endpoints: a standalone Redis has exactly one"
          + " endpoint");
    }
    for (String e : endpoints) {
      checkEndpoint(e);
    }
    if (type.equals("sentinel") && (masterName == null || masterName.isBlank())) {
      throw new IllegalArgumentException("redis.masterName is required with redis.type"
          + " sentinel");
    }
    if (timeoutMillis < 1 || timeoutMillis > 60_000) {
      throw new IllegalArgumentException("redis.timeoutMillis must be between 1 and 60000");
    }
    if (waitReplicas < 0) {
      throw new IllegalArgumentException("redis.waitReplicas must be 0 or more");
    }
    if (waitReplicas > 0 && type.equals("cluster")) {
      throw new IllegalArgumentException("redis.waitReplicas is not supported with redis.type"
          + " cluster (docs/configuration.md)");
    }
    if (waitReplicas > 0 && (waitTimeoutMillis < 1 || waitTimeoutMillis > 60_000)) {
      throw new IllegalArgumentException("redis.waitTimeoutMillis must be between 1 and 60000"
          + " when redis.waitReplicas is set");
    }
    if (keyPrefix == null || keyPrefix.isEmpty() || keyPrefix.length() > 64
        || !keyPrefix.matches("[A-Za-z0-9:._{}-]+")) {
      throw new IllegalArgumentException("redis.keyPrefix must be 1-64 characters of"
          + " [A-Za-z0-9:._{}-]");
    }
    if (probeIntervalMillis < 50 || probeIntervalMillis > 60_000) {
      throw new IllegalArgumentException("redis.probeIntervalMillis must be between 50 and"
          + " 60000");
    }
    if (password != null && password.isEmpty()) {
      password = null;
    }
  }

  private static void checkEndpoint(String e) {
    URI u;
    try {
      u = new URI(e);
    } catch (URISyntaxException x) {
      throw new IllegalArgumentException("redis.endpoints: not a URL (redis://host:port)");
    }
    if (!"redis".equals(u.getScheme()) || u.getHost() == null || u.getPort() < 1) {
      throw new IllegalArgumentException("redis.endpoints: " + safe(e) + " is not"
          + " redis://host:port");
    }
    if (u.getRawUserInfo() != null) {
      throw new IllegalArgumentException("redis.endpoints: no password in the URL; put it in"
          + " the file named by redis.passwordFile");
    }
  }

  /** An endpoint for logs: scheme, host and port only. */
  static String safe(String endpoint) {
    try {
      URI u = new URI(endpoint);
      return u.getScheme() + "://" + u.getHost() + ":" + u.getPort();
    } catch (URISyntaxException | RuntimeException x) {
      return "(unparsable endpoint)";
    }
  }

  /** The endpoints for logs and messages: scheme, host and port only. */
  public List<String> endpointsForLog() {
    return endpoints.stream().map(RedisReplayOptions::safe).toList();
  }

  /** Whether WAIT follows each record. */
  public boolean waits() {
    return waitReplicas > 0;
  }

  /** The longest one request waits for Redis: the timeout, plus WAIT's when it is used. */
  public long requestDeadlineMillis() {
    return timeoutMillis + (waits() ? waitTimeoutMillis : 0);
  }

  @Override
  public String toString() {
    return "RedisReplayOptions[type=" + type + ", endpoints="
        + endpoints.stream().map(RedisReplayOptions::safe).toList()
        + (masterName != null && !masterName.isBlank() ? ", masterName=" + masterName : "")
        + ", timeoutMillis=" + timeoutMillis + ", waitReplicas=" + waitReplicas
        + ", waitTimeoutMillis=" + waitTimeoutMillis + ", password="
        + (password == null ? "none" : "(set)") + ", keyPrefix=" + keyPrefix
        + ", probeIntervalMillis=" + probeIntervalMillis + "]";
  }
}
