package io.imskms.api;

import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmStatus;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The KMS's own meters, next to the ones Vert.x records ({@code vertx_http_server_*}):
 *
 * <ul>
 *   <li>{@code kms_http_requests_seconds{route,method,status,code}}: every answer, by route and
 *       outcome ({@code code} is the problem code, or OK), with latency buckets;
 *   <li>{@code kms_operations_seconds{operation,outcome}}: each protocol operation at the
 *       service boundary, time on the worker included;
 *   <li>{@code kms_hsm_calls_seconds{call,outcome}}: each call into the HSM adapter;
 *   <li>{@code kms_audit_append_seconds{outcome}}: the wait of each answer for its audit
 *       records to be durable;
 *   <li>{@code kms_worker_*} and {@code kms_hsm_*} gauges: saturation of the worker executor
 *       and of the HSM session pool, and readiness.
 * </ul>
 */
final class ApiMetrics {
  private static final Duration[] BUCKETS = {
      Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5), Duration.ofMillis(10),
      Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100),
      Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
      Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10)};

  /** HTTP methods named as they are in the meters; any other is counted as OTHER. */
  private static final Set<String> METHODS = Set.of("GET", "HEAD", "POST", "PUT", "DELETE",
      "OPTIONS", "PATCH", "TRACE", "CONNECT");

  private final MeterRegistry registry;
  /**
   * The timers by name and tag values, so that recording does not build and look up a meter id
   * (its tags sorted and compared) each time: about 21 recordings per Figure 17 request, and
   * Micrometer's registration path was 10% of the server's Java samples (docs/performance.md).
   * Every tag value comes from a bounded set, so this stays small.
   */
  private final ConcurrentHashMap<Key, Timer> timers = new ConcurrentHashMap<>();

  private record Key(String name, String v1, String v2, String v3, String v4) {}

  ApiMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  MeterRegistry registry() {
    return registry;
  }

  void request(String route, String method, int status, String code, long nanos) {
    String m = METHODS.contains(method) ? method : "OTHER"; // a client may send any token
    timers.computeIfAbsent(new Key("kms.http.requests", route, m, Integer.toString(status), code),
        k -> timer(k.name(), "HTTP requests answered by the KMS", "route", k.v1(), "method",
            k.v2(), "status", k.v3(), "code", k.v4()))
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  void operation(String operation, String outcome, long nanos) {
    timers.computeIfAbsent(new Key("kms.operations", operation, outcome, null, null),
        k -> timer(k.name(), "Protocol operations at the service boundary", "operation", k.v1(),
            "outcome", k.v2()))
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  void hsmCall(String call, String outcome, long nanos) {
    hsmCallTimer(call, outcome).record(nanos, TimeUnit.NANOSECONDS);
  }

  /** The timer of one adapter call and outcome, for a caller that keeps it (MeteredHsm). */
  Timer hsmCallTimer(String call, String outcome) {
    return timers.computeIfAbsent(new Key("kms.hsm.calls", call, outcome, null, null),
        k -> timer(k.name(), "Calls into the HSM adapter", "call", k.v1(), "outcome", k.v2()));
  }

  void auditAppend(String outcome, long nanos) {
    timers.computeIfAbsent(new Key("kms.audit.append", outcome, null, null, null),
        k -> timer(k.name(), "Waits of answers for their audit records: from handing them to"
            + " the audit log to their being durable (fsync)",
            "outcome", k.v1()))
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  static String outcomeOf(Throwable t) {
    if (t == null) {
      return "ok";
    }
    if (t instanceof HsmException) {
      return ((HsmException) t).kind().name();
    }
    return Problems.classify(t, -1).failure().name();
  }

  void workerGauges(HsmWorker worker) {
    Gauge.builder("kms.worker.in.flight", worker, HsmWorker::inFlight)
        .description("HSM tasks running or queued on the kms-hsm worker executor")
        .register(registry);
    Gauge.builder("kms.worker.capacity", worker, HsmWorker::capacity)
        .description("Tasks admitted at most (pool size + queue limit)").register(registry);
    Gauge.builder("kms.worker.pool.size", worker, HsmWorker::poolSize)
        .description("Threads of the kms-hsm worker executor").register(registry);
    Gauge.builder("kms.worker.saturation", worker,
        w -> (double) w.inFlight() / w.capacity())
        .description("in flight / capacity; at 1 new requests get 503").register(registry);
  }

  void hsmGauges(Supplier<HsmStatus> status) {
    Gauge.builder("kms.hsm.ready", status, s -> s.get().ready() ? 1 : 0)
        .description("1 when the token is reachable, logged in and its keys found")
        .register(registry);
    Gauge.builder("kms.hsm.sessions.in.use", status, s -> s.get().sessionsInUse())
        .description("PKCS#11 sessions borrowed from the adapter's pool").register(registry);
    Gauge.builder("kms.hsm.pool.size", status, s -> s.get().poolSize())
        .description("PKCS#11 sessions in the adapter's pool").register(registry);
    Gauge.builder("kms.hsm.generation", status, s -> s.get().generation())
        .description("Module generation (+1 per re-initialisation)").register(registry);
    Gauge.builder("kms.hsm.recoveries", status, s -> s.get().recoveries())
        .description("Re-initialisations after a fault").register(registry);
    Gauge.builder("kms.hsm.session.objects.live", status, s -> s.get().sessionObjectsLive())
        .description("HSM session objects of this generation not destroyed yet (the shared"
            + " keys when idle; more than they and the open sessions hold means a leak)")
        .register(registry);
    Gauge.builder("kms.hsm.shared.keys", status, s -> s.get().sharedKeys())
        .description("Recovered session keys (Ks by B-TID) kept in the HSM for reuse, at most"
            + " hsm.sharedKeys; they are among the live session objects").register(registry);
    // Not "...objects.created": Prometheus reserves the _created suffix (a counter's creation
    // time) and its client drops it from gauge names.
    Gauge.builder("kms.hsm.session.objects.created.in.generation", status,
            s -> s.get().objectsCreatedSinceInit())
        .description("HSM session objects created in this generation (restarts at 0 when a"
            + " recycle or recovery starts a new one)").register(registry);
  }

  private Timer timer(String name, String description, String... tags) {
    return Timer.builder(name).description(description).tags(tags)
        .serviceLevelObjectives(BUCKETS).register(registry);
  }
}
