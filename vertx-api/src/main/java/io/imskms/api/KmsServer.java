package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.logging.JsonLayout;
import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.audit.AuditLog;
import io.imskms.hsm.HsmStatus;
import io.imskms.protocol.Role;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.PlatformHandler;
import io.vertx.ext.web.openapi.router.OpenAPIRoute;
import io.vertx.ext.web.openapi.router.RequestExtractor;
import io.vertx.ext.web.openapi.router.RouterBuilder;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import io.vertx.openapi.contract.SecurityRequirement;
import io.vertx.openapi.validation.ValidatedRequest;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The KMS's HTTPS server: the routes of docs/openapi.yaml, validated by that document, with the
 * protocol operations run on the {@link HsmWorker}, health checks and Prometheus metrics.
 *
 * <p>Request pipeline: request id, access log and read timeout ({@link RequestTracking}) → body
 * (at most {@code http.bodyLimitBytes}) → client certificate present on mailbox-only routes →
 * OpenAPI validation ({@link BodyValidation} on the protocol routes, validators built once) →
 * the operation's handler (identity of the client certificate, decoding) → {@link KmsOperations}
 * on the worker, which then hands the grant's audit records to the audit log → once they are
 * durable, JSON on the event loop. Every failure on the way goes to {@link Problems}.
 */
public final class KmsServer extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(KmsServer.class);
  /** The security scheme of docs/openapi.yaml that means "mailbox client certificate". */
  static final String MAILBOX_TLS = "mailboxTls";

  private final ApiConfig config;
  private final HttpServerOptions httpOptions;
  private final KmsOperations operations;
  private final Supplier<HsmStatus> hsmStatus;
  private final PrometheusMeterRegistry registry;
  private final ApiMetrics metrics;
  private final AuditTrail audit;
  private HsmWorker worker;
  private HttpServer server;
  private OpenApiDocument document;
  /** The replay defence's readiness; not ready until {@link #replayDefence} attaches it. */
  private volatile ReplayDefence replay;

  /**
   * @param config the configuration (http, worker sections are read here)
   * @param httpOptions listener options with TLS already applied ({@code ServerTls})
   * @param operations the protocol operations (blocking; run on the worker)
   * @param hsmStatus the adapter's status, for readiness and fast 503s
   * @param registry where all meters go; scraped at /metrics
   * @param auditLog the node's audit log: every protocol answer waits for its record
   * @param pseudonyms the pseudonymiser of identities in records, or null to record them in
   *     clear ({@code audit.identities})
   */
  public KmsServer(ApiConfig config, HttpServerOptions httpOptions, KmsOperations operations,
      Supplier<HsmStatus> hsmStatus, PrometheusMeterRegistry registry, AuditLog auditLog,
      AuditPseudonyms pseudonyms) {
    this.config = Objects.requireNonNull(config);
    this.httpOptions = new HttpServerOptions(Objects.requireNonNull(httpOptions));
    this.operations = Objects.requireNonNull(operations);
    this.hsmStatus = Objects.requireNonNull(hsmStatus);
    this.registry = Objects.requireNonNull(registry);
    this.metrics = new ApiMetrics(registry);
    this.audit = new AuditTrail(Objects.requireNonNull(auditLog), pseudonyms, metrics);
  }

  /** Attaches the node's replay defence: /health/ready shows it and needs it ready. */
  void replayDefence(ReplayDefence defence) {
    this.replay = Objects.requireNonNull(defence);
    io.micrometer.core.instrument.Gauge.builder("kms.replay.store.ready", defence,
            d -> d.ready() ? 1 : 0)
        .description("1 while the replay defence can record (always with replay.store memory)")
        .register(registry);
  }

  /** The bound port (useful with port 0); -1 before start. */
  public int actualPort() {
    return server == null ? -1 : server.actualPort();
  }

  @Override
  public Future<?> start() {
    worker = new HsmWorker(vertx, config.workerPoolSize(), config.worker().queueLimit(),
        config.worker().maxExecuteTimeMs(), hsmStatus, metrics);
    metrics.workerGauges(worker);
    metrics.hsmGauges(hsmStatus);
    return vertx.executeBlocking(OpenApiDocument::load)
        .compose(doc -> {
          document = doc;
          return OpenAPIContract.from(vertx, doc.forValidator());
        })
        .map(this::router)
        .compose(router -> vertx.createHttpServer(httpOptions).requestHandler(router).listen())
        .onSuccess(s -> {
          server = s;
          LOG.info("KMS API listening on https://{}:{} (TLS {}, worker pool {}, queue limit {})",
              httpOptions.getHost(), s.actualPort(), config.tls().protocols(),
              config.workerPoolSize(), config.worker().queueLimit());
        });
  }

  @Override
  public Future<?> stop() {
    ReplayDefence rd = replay;
    if (rd != null) {
      rd.close();
    }
    return worker == null ? Future.succeededFuture() : worker.close();
  }

  private Router router(OpenAPIContract contract) {
    Set<String> paths = new HashSet<>();
    Set<String> mailboxOnly = new HashSet<>();
    for (Operation op : contract.operations()) {
      paths.add(op.getOpenAPIPath());
      if (requiresMailboxTls(op)) {
        mailboxOnly.add(op.getOpenAPIPath());
      }
    }
    RequestTracking tracking = new RequestTracking(vertx, metrics, config.http().readTimeoutMs(),
        paths);
    RouterBuilder rb = RouterBuilder.create(vertx, contract, RequestExtractor.withBodyHandler());
    // A platform handler: Vert.x Web runs those before the body handler.
    rb.rootHandler((PlatformHandler) tracking::start);
    rb.rootHandler(BodyHandler.create(false).setBodyLimit(config.http().bodyLimitBytes()));
    rb.rootHandler(tracking::bodyReceived);
    rb.rootHandler(rc -> {
      // 401 before the body is validated: without a certificate nothing else matters.
      if (mailboxOnly.contains(rc.normalizedPath())) {
        try {
          MutualTls.peer(rc);
        } catch (ApiFailure f) {
          rc.fail(f);
          return;
        }
      }
      rc.next();
    });

    protocolRoute(rb, contract, "bootstrap").addHandler(this::bootstrap);
    protocolRoute(rb, contract, "mailboxKeyRequest").addHandler(this::mailboxKeyRequest);
    protocolRoute(rb, contract, "retrieve").addHandler(this::retrieve);
    rb.getRoute("openapi").addHandler(rc -> rc.response()
        .putHeader(HttpHeaders.CONTENT_TYPE, "application/yaml").end(document.yaml()));
    rb.getRoute("live").addHandler(rc -> json(rc, 200, new JsonObject().put("status", "UP")));
    rb.getRoute("ready").addHandler(this::ready);
    rb.getRoute("auditCheckpoint").addHandler(this::auditCheckpoint);
    rb.getRoute("metrics").addHandler(rc -> rc.response()
        .putHeader(HttpHeaders.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
        .end(registry.scrape()));

    Router router = rb.createRouter();
    Problems problems = new Problems(config.worker().retryAfterSeconds(), paths, audit);
    router.route().failureHandler(problems);
    for (int status : new int[] {400, 404, 405, 408, 413, 415, 500, 503}) {
      router.errorHandler(status, problems);
    }
    return router;
  }

  /**
   * A protocol operation's route: security is checked by the root handler above (401 before the
   * body is looked at); the body is validated by a {@link BodyValidation} made here, once, in
   * place of the RouterBuilder's validation, which builds a schema validator per request.
   */
  private static OpenAPIRoute protocolRoute(RouterBuilder rb, OpenAPIContract contract,
      String operationId) {
    OpenAPIRoute route = rb.getRoute(operationId).setDoSecurity(false);
    Operation op = route.getOperation();
    if (BodyValidation.supports(op)) {
      BodyValidation validation = new BodyValidation(contract, op);
      if (!validation.quickAcceptance()) {
        LOG.info("operation {}: its schema has keywords outside SchemaAcceptor's subset; every"
            + " body goes through the JSON-schema validator", operationId);
      }
      route.setDoValidation(false).addHandler(validation);
    } else {
      LOG.warn("operation {} declares parameters: validated per request by the RouterBuilder",
          operationId);
    }
    return route;
  }

  private static boolean requiresMailboxTls(Operation op) {
    if (op.getSecurityRequirements() == null || op.getSecurityRequirements().isEmpty()) {
      return false;
    }
    for (SecurityRequirement r : op.getSecurityRequirements()) {
      if (r.isEmpty() || !r.getNames().contains(MAILBOX_TLS)) {
        return false; // an alternative without the client certificate exists
      }
    }
    return true;
  }

  /** Steps 1a/1b/1m. A mailbox bootstraps only over mutual TLS as itself. */
  private void bootstrap(RoutingContext rc) {
    run(rc, (body, facts) -> {
      var req = JsonMessages.bootstrapRequest(body);
      facts.request(req);
      if (req.role() == Role.MAILBOX) {
        MutualTls.requirePrincipal(rc, req.id());
      }
      return () -> {
        var res = operations.bootstrap(req);
        facts.response(res);
        return JsonMessages.toJson(res);
      };
    }, "bootstrap");
  }

  /** Figure 17 steps 4–6 (and 19): only the mailbox named ID-Bm, over mutual TLS. */
  private void mailboxKeyRequest(RoutingContext rc) {
    run(rc, (body, facts) -> {
      var req = JsonMessages.mailboxKeyRequest(body);
      facts.request(req);
      MutualTls.requirePrincipal(rc, req.idBm());
      return () -> {
        var res = operations.mailboxKeyRequest(req);
        facts.response(res);
        return JsonMessages.toJson(res);
      };
    }, "mailboxKeyRequest");
  }

  /** Figure 18 steps 4–6: UE-B is authenticated by Kb inside the message. */
  private void retrieve(RoutingContext rc) {
    run(rc, (body, facts) -> {
      var req = JsonMessages.retrievalRequest(body);
      facts.request(req);
      return () -> JsonMessages.toJson(operations.retrieve(req));
    }, "retrieve");
  }

  @FunctionalInterface
  private interface Prepare {
    /**
     * Decodes and authorises on the event loop, noting what the audit record says about the
     * request in {@code facts}; returns the blocking part (which notes the response's facts).
     */
    Callable<JsonObject> apply(JsonObject body, AuditTrail.Facts facts) throws Exception;
  }

  /**
   * Runs one protocol operation. A grant is answered only once its audit record is durable (a
   * refusal likewise, in {@link Problems}); if the record cannot be written the client gets 503
   * AUDIT_UNAVAILABLE and nothing of the grant.
   */
  private void run(RoutingContext rc, Prepare prepare, String operation) {
    Callable<JsonObject> task;
    AuditTrail.Facts facts = AuditTrail.facts(rc);
    try {
      ValidatedRequest validated = rc.get(RouterBuilder.KEY_META_DATA_VALIDATED_REQUEST);
      task = prepare.apply(validated.getBody().getJsonObject(), facts);
    } catch (Exception e) {
      rc.fail(e);
      return;
    }
    // Log lines of kms-core and the adapter on the worker thread carry the request id too.
    String requestId = RequestTracking.requestId(rc);
    Callable<JsonObject> traced = () -> {
      MDC.put(JsonLayout.REQUEST_ID, requestId);
      try {
        return task.call();
      } finally {
        MDC.remove(JsonLayout.REQUEST_ID);
      }
    };
    // The worker that computed the grant hands its records to the audit log (pseudonyms, if
    // configured, on that thread); the event loop hears of the request again once they are
    // durable. The grant is recorded even if the client has gone: the KMS made the decision.
    worker.submit(operation, traced,
        result -> audit.appendDurable(facts.granted()).thenApply(v -> result))
        .onComplete(ar -> {
          if (ar.failed()) {
            // a refusal (Problems records it, then answers) or AUDIT_UNAVAILABLE (not recorded)
            rc.fail(ar.cause());
            return;
          }
          if (!rc.response().ended() && !rc.response().closed()) {
            json(rc, 200, ar.result());
          }
        });
  }

  /** The latest signed checkpoint (C2SP signed note), for witnesses and auditors. */
  private void auditCheckpoint(RoutingContext rc) {
    String note = audit.latestCheckpoint();
    if (note == null) {
      rc.fail(new ApiFailure(Failure.NOT_FOUND)); // none signed yet (first second after start)
      return;
    }
    rc.response().setStatusCode(200)
        .putHeader(HttpHeaders.CONTENT_TYPE, "text/plain; charset=utf-8")
        .putHeader(HttpHeaders.CACHE_CONTROL, "no-store")
        .end(note);
  }

  private void ready(RoutingContext rc) {
    HsmStatus s = hsmStatus.get();
    JsonObject hsm = new JsonObject().put("ready", s.ready()).put("generation", s.generation())
        .put("poolSize", s.poolSize()).put("sessionsInUse", s.sessionsInUse());
    boolean auditOk = audit.healthy();
    JsonObject auditJson = new JsonObject().put("ready", auditOk).put("records", audit.size());
    ReplayDefence rd = replay;
    JsonObject replayJson = rd == null
        ? new JsonObject().put("ready", false).put("error", "starting") : rd.status();
    boolean ready = s.ready() && auditOk && replayJson.getBoolean("ready");
    JsonObject body = new JsonObject().put("status", ready ? "UP" : "DOWN").put("hsm", hsm)
        .put("audit", auditJson).put("replay", replayJson);
    if (!ready) {
      rc.response().putHeader(HttpHeaders.RETRY_AFTER,
          Integer.toString(config.worker().retryAfterSeconds()));
    }
    json(rc, ready ? 200 : 503, body);
  }

  private static void json(RoutingContext rc, int status, JsonObject body) {
    rc.response().setStatusCode(status)
        .putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .putHeader(HttpHeaders.CACHE_CONTROL, "no-store")
        .end(body.toBuffer());
  }
}
