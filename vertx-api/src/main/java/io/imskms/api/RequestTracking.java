package io.imskms.api;

import io.imskms.api.logging.JsonLayout;
import io.vertx.core.Vertx;
import io.vertx.ext.web.RoutingContext;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The first handlers of every request: a request id (the client's {@code X-Request-Id} when it
 * is a short token, else a fresh one) echoed in the response and put in every log line about the
 * request; one access-log line and one {@code kms_http_requests} sample per answer; and the read
 * timeout, which answers 408 when the body has not fully arrived in time (a slow or truncated
 * upload), so no request hangs.
 */
final class RequestTracking {
  static final String REQUEST_ID_HEADER = "X-Request-Id";
  static final String PROBLEM_CODE = "kms.problemCode";
  private static final String REQUEST_ID = "kms.requestId";
  private static final String TIMER = "kms.readTimer";
  private static final String TIMED_OUT = "kms.readTimedOut";
  private static final Pattern CLIENT_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  private static final Logger ACCESS = LoggerFactory.getLogger("io.imskms.api.access");
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Vertx vertx;
  private final ApiMetrics metrics;
  private final long readTimeoutMs;
  private final Set<String> knownRoutes;

  RequestTracking(Vertx vertx, ApiMetrics metrics, long readTimeoutMs, Set<String> knownRoutes) {
    this.vertx = vertx;
    this.metrics = metrics;
    this.readTimeoutMs = readTimeoutMs;
    this.knownRoutes = Set.copyOf(knownRoutes);
  }

  static String requestId(RoutingContext rc) {
    String id = rc.get(REQUEST_ID);
    return id == null ? "-" : id;
  }

  /** Runs {@code r} with the request id in the logging MDC. */
  static void withRequestId(RoutingContext rc, Runnable r) {
    MDC.put(JsonLayout.REQUEST_ID, requestId(rc));
    try {
      r.run();
    } finally {
      MDC.remove(JsonLayout.REQUEST_ID);
    }
  }

  /** Root handler 1: request id, access log, metrics, and the start of the read timeout. */
  void start(RoutingContext rc) {
    long t0 = System.nanoTime();
    String given = rc.request().getHeader(REQUEST_ID_HEADER);
    String id = given != null && CLIENT_ID.matcher(given).matches() ? given : newId();
    rc.put(REQUEST_ID, id);
    rc.response().putHeader(REQUEST_ID_HEADER, id);
    long timer = vertx.setTimer(readTimeoutMs, x -> {
      if (!Boolean.TRUE.equals(rc.get(TIMED_OUT)) && !rc.request().isEnded()
          && !rc.response().ended()) {
        rc.put(TIMED_OUT, Boolean.TRUE);
        rc.fail(new ApiFailure(Failure.REQUEST_TIMEOUT));
      }
    });
    rc.put(TIMER, timer);
    rc.addEndHandler(ar -> {
      vertx.cancelTimer(timer);
      int status = rc.response().getStatusCode();
      String code = rc.get(PROBLEM_CODE);
      String path = rc.normalizedPath();
      String route = knownRoutes.contains(path) ? path : "other";
      long nanos = System.nanoTime() - t0;
      metrics.request(route, rc.request().method().name(), status, code == null ? "OK" : code,
          nanos);
      withRequestId(rc, () -> ACCESS.info("{} {} {} {} {}ms", rc.request().method(), route,
          status, code == null ? "OK" : code, nanos / 1_000_000));
    });
    rc.next();
  }

  /** Root handler 3, after the body handler: the body is complete, the read timeout is over. */
  void bodyReceived(RoutingContext rc) {
    Long timer = rc.get(TIMER);
    if (timer != null) {
      vertx.cancelTimer(timer);
    }
    if (Boolean.TRUE.equals(rc.get(TIMED_OUT))) {
      return; // already answered 408
    }
    rc.next();
  }

  private static String newId() {
    byte[] b = new byte[12];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }
}
