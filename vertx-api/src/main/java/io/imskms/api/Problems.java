package io.imskms.api;

import io.imskms.core.KmsException;
import io.imskms.hsm.HsmException;
import io.imskms.protocol.ProtocolException;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import io.vertx.json.schema.OutputUnit;
import io.vertx.openapi.validation.SchemaValidationException;
import io.vertx.openapi.validation.ValidatorException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where failures become HTTP answers: {@link #classify} maps every failure that
 * travels in a Future or fails a RoutingContext to a {@link Failure}, and the handler writes the
 * RFC 9457 problem document ({@code application/problem+json}) with the request id. Installed
 * as the router's failure handler and as its error handler for unmatched requests.
 */
final class Problems implements Handler<RoutingContext> {
  private static final Logger LOG = LoggerFactory.getLogger(Problems.class);
  static final String CONTENT_TYPE = "application/problem+json";

  private static final long DRAIN_GRACE_MS = 1000;
  private static final long DRAIN_MAX_BYTES = 1 << 20;

  private static final String AUDITED = "kms.audit.refusalRecorded";

  private final int retryAfterSeconds;
  private final Set<String> routes;
  private final AuditTrail audit;

  /**
   * @param routes the contract's route templates; {@code instance} names one of them, or is left
   *     out, so that no byte of the client's request line is echoed
   * @param audit where refusals of protocol requests are recorded before they are answered
   */
  Problems(int retryAfterSeconds, Set<String> routes, AuditTrail audit) {
    this.retryAfterSeconds = retryAfterSeconds;
    this.routes = Set.copyOf(routes);
    this.audit = audit;
  }

  /** The route template the request matched, taken from our own set, or null. */
  String instance(RoutingContext rc) {
    String path = rc.normalizedPath();
    for (String route : routes) {
      if (route.equals(path)) {
        return route;
      }
    }
    return null;
  }

  /** A classified failure and, for schema violations, the JSON pointer it concerns. */
  record Classified(Failure failure, String pointer) {}

  /**
   * Maps a failure to what the client is told.
   *
   * @param t the failure, or null when only a status code is known
   * @param statusCode the status the router or a handler chose, or -1
   */
  static Classified classify(Throwable t, int statusCode) {
    if (t instanceof ApiFailure) {
      ApiFailure a = (ApiFailure) t;
      return new Classified(a.failure(), a.pointer());
    }
    if (t instanceof KmsException) {
      return new Classified(Failure.ofProtocol(((KmsException) t).code()), null);
    }
    if (t instanceof ProtocolException) {
      return new Classified(Failure.ofProtocol(((ProtocolException) t).code()), null);
    }
    if (t instanceof HsmException) {
      return new Classified(Failure.ofProtocol(KmsException.of((HsmException) t).code()), null);
    }
    if (t instanceof SchemaValidationException) {
      return schemaViolation((SchemaValidationException) t);
    }
    if (t instanceof ValidatorException) {
      switch (((ValidatorException) t).type()) {
        case UNSUPPORTED_VALUE_FORMAT:
          return new Classified(Failure.UNSUPPORTED_MEDIA_TYPE, null);
        case ILLEGAL_VALUE:
          return new Classified(Failure.INVALID_JSON, null);
        case MISSING_REQUIRED_PARAMETER:
          return new Classified(Failure.MISSING_BODY, null);
        default:
          return new Classified(Failure.BAD_REQUEST, null);
      }
    }
    if (t instanceof HttpException) {
      // The OpenAPI router wraps its ValidatorException in a 400 HttpException.
      if (t.getCause() instanceof ValidatorException) {
        return classify(t.getCause(), statusCode);
      }
      return byStatus(((HttpException) t).getStatusCode());
    }
    if (t == null) {
      return byStatus(statusCode);
    }
    return new Classified(Failure.INTERNAL, null);
  }

  private static Classified byStatus(int status) {
    switch (status) {
      case 400:
        return new Classified(Failure.BAD_REQUEST, null);
      case 404:
        return new Classified(Failure.NOT_FOUND, null);
      case 405:
        return new Classified(Failure.METHOD_NOT_ALLOWED, null);
      case 408:
        return new Classified(Failure.REQUEST_TIMEOUT, null);
      case 413:
        return new Classified(Failure.BODY_TOO_LARGE, null);
      case 415:
        return new Classified(Failure.UNSUPPORTED_MEDIA_TYPE, null);
      case 503:
        return new Classified(Failure.SERVER_BUSY, null);
      default:
        return new Classified(Failure.INTERNAL, null);
    }
  }

  /**
   * A body that is JSON but not of the schema. A failed base64url pattern or length of a binary
   * field is reported as BAD_BASE64; anything else as SCHEMA_VIOLATION. The pointer names the
   * member (at most 64 characters of [A-Za-z0-9/_-], so it cannot carry client bytes).
   */
  private static Classified schemaViolation(SchemaValidationException e) {
    List<OutputUnit> errors = new ArrayList<>();
    flatten(e.getOutputUnit(), errors);
    for (OutputUnit u : errors) {
      String where = String.valueOf(u.getAbsoluteKeywordLocation());
      if (where.contains("/schemas/B64") && (where.endsWith("/pattern")
          || where.endsWith("/minLength") || where.endsWith("/maxLength"))) {
        return new Classified(Failure.BAD_BASE64, sanitise(u.getInstanceLocation()));
      }
    }
    String pointer = errors.isEmpty() ? null : sanitise(errors.get(0).getInstanceLocation());
    return new Classified(Failure.SCHEMA_VIOLATION, pointer);
  }

  private static void flatten(OutputUnit u, List<OutputUnit> out) {
    if (u == null) {
      return;
    }
    if (u.getInstanceLocation() != null) {
      out.add(u);
    }
    if (u.getErrors() != null) {
      for (OutputUnit child : u.getErrors()) {
        flatten(child, out);
      }
    }
  }

  static String sanitise(String pointer) {
    if (pointer == null) {
      return null;
    }
    String p = pointer.startsWith("#") ? pointer.substring(1) : pointer;
    if (p.isEmpty()) {
      return "";
    }
    if (p.length() > 64 || !p.matches("[A-Za-z0-9/_-]+")) {
      return null;
    }
    return p;
  }

  /**
   * A refusal of a protocol request is answered only once its audit record is durable; if it
   * cannot be written the answer is AUDIT_UNAVAILABLE instead.
   */
  @Override
  public void handle(RoutingContext rc) {
    Classified c = classify(rc.failure(), rc.statusCode());
    if (AuditTrail.audited(rc) && !AuditTrail.isAuditFailure(rc.failure())
        && rc.get(AUDITED) == null && !rc.response().headWritten()) {
      rc.put(AUDITED, Boolean.TRUE);
      audit.append(rc.vertx(), java.util.List.of(AuditTrail.facts(rc).refused(c.failure())))
          .onComplete(ar -> answer(rc, ar.succeeded() ? c
              : new Classified(Failure.AUDIT_UNAVAILABLE, null)));
      return;
    }
    answer(rc, c);
  }

  private void answer(RoutingContext rc, Classified c) {
    Failure f = c.failure();
    RequestTracking.withRequestId(rc, () -> log(rc, f));
    rc.put(RequestTracking.PROBLEM_CODE, f.name());
    HttpServerResponse res = rc.response();
    if (res.headWritten()) {
      rc.request().connection().close();
      return;
    }
    JsonObject body = new JsonObject()
        .put("type", f.type())
        .put("title", f.title())
        .put("status", f.status())
        .put("code", f.name())
        .put("requestId", RequestTracking.requestId(rc));
    String instance = instance(rc);
    if (instance != null) {
      body.put("instance", instance);
    }
    if (c.pointer() != null) {
      body.put("pointer", c.pointer());
    }
    res.setStatusCode(f.status())
        .putHeader(HttpHeaders.CONTENT_TYPE, CONTENT_TYPE)
        .putHeader(HttpHeaders.CACHE_CONTROL, "no-store");
    if (f.retryable()) {
      res.putHeader(HttpHeaders.RETRY_AFTER, Integer.toString(retryAfterSeconds));
    }
    boolean close = f == Failure.REQUEST_TIMEOUT || f == Failure.BODY_TOO_LARGE;
    if (close) {
      // The rest of the body is still on its way (or never comes): do not read it.
      res.putHeader(HttpHeaders.CONNECTION, "close");
    }
    res.end(body.toBuffer()).onComplete(ar -> {
      if (close) {
        closeWhenRead(rc);
      }
    });
  }

  /**
   * Closes the connection once the client has sent what it declared, discarding it, or after a
   * short grace period; closing at once would reset a connection the client is still writing
   * to, and it might never read the answer.
   */
  private static void closeWhenRead(RoutingContext rc) {
    HttpServerRequest req = rc.request();
    HttpConnection conn = req.connection();
    if (req.isEnded()) {
      conn.close();
      return;
    }
    long grace = rc.vertx().setTimer(DRAIN_GRACE_MS, x -> conn.close());
    long[] drained = {0};
    try {
      req.handler(b -> {
        drained[0] += b.length();
        if (drained[0] > DRAIN_MAX_BYTES) {
          conn.close();
        }
      });
      req.endHandler(v -> {
        rc.vertx().cancelTimer(grace);
        conn.close();
      });
      req.resume();
    } catch (IllegalStateException e) {
      rc.vertx().cancelTimer(grace);
      conn.close();
    }
  }

  /** The access log names the route; these lines add why (never the raw path or the body). */
  private static void log(RoutingContext rc, Failure f) {
    Throwable t = rc.failure();
    if (f == Failure.INTERNAL) {
      LOG.error("internal error on {}", rc.request().method(), t);
    } else if (f == Failure.HSM_UNAVAILABLE && t != null && !(t instanceof ApiFailure)) {
      LOG.warn("HSM unavailable: {}", t.getMessage());
    } else {
      LOG.debug("refused: {} ({})", f,
          t == null ? "status " + rc.statusCode() : t.getClass().getSimpleName());
    }
  }
}
