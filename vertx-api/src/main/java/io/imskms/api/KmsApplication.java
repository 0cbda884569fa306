package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.ConfigLoader;
import io.imskms.api.config.PinSource;
import io.imskms.api.audit.AuditKeys;
import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.api.audit.HsmCheckpointSigner;
import io.imskms.api.tls.DevTls;
import io.imskms.audit.AuditEvent;
import io.imskms.audit.AuditLog;
import io.imskms.audit.AuditLogOptions;
import io.imskms.audit.AuditStartException;
import io.imskms.audit.CheckpointSigner;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmStatus;
import io.imskms.api.tls.ServerTls;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.Pkcs11Hsm;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.micrometer.Label;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.imskms.core.keys.KeyManifest;
import io.imskms.core.replay.ReplayGuard;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running KMS: Vert.x with Micrometer metrics, the HSM adapter logged in to the configured
 * token, the node's audit log (signed by the Ed25519 key in the token) and one {@link
 * KmsServer}. {@link #start} blocks until the server listens and its start-up record is durable
 * (or fails: no audit directory, no audit key, no durable record); {@link #close} undeploys,
 * records the shutdown, signs the final checkpoint and logs out of the token.
 */
public final class KmsApplication implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KmsApplication.class);

  /** Builds the protocol operations over the (metered) HSM. */
  @FunctionalInterface
  public interface OperationsFactory {
    KmsOperations create(Hsm hsm) throws Exception;

    /**
     * With the node's replay defence ({@code replay.store}); by default it is not used and the
     * operations bring their own.
     */
    default KmsOperations create(Hsm hsm, ReplayGuard replay) throws Exception {
      return create(hsm);
    }
  }

  /** kms-core's protocol service from {@code core}, over the node's replay defence. */
  static OperationsFactory coreOperations(ApiConfig.Core core) {
    return new OperationsFactory() {
      @Override
      public KmsOperations create(Hsm hsm) throws Exception {
        return CoreOperations.open(core, hsm);
      }

      @Override
      public KmsOperations create(Hsm hsm, ReplayGuard replay) throws Exception {
        return CoreOperations.open(core, hsm, Clock.systemUTC(), replay);
      }
    };
  }

  /** Opens the audit log (tests substitute a disk that fails on demand). */
  @FunctionalInterface
  interface AuditOpener {
    AuditLog open(AuditLogOptions options, CheckpointSigner signer) throws AuditStartException;
  }

  /** How long start-up and shutdown wait for their own audit record. */
  private static final long AUDIT_WAIT_SECONDS = 10;

  private final Vertx vertx;
  private final Hsm hsm;
  private final KmsServer server;
  private final PrometheusMeterRegistry registry;
  private final DevTls devTls;
  private final AuditLog audit;

  private KmsApplication(Vertx vertx, Hsm hsm, KmsServer server,
      PrometheusMeterRegistry registry, DevTls devTls, AuditLog audit) {
    this.vertx = vertx;
    this.hsm = hsm;
    this.server = server;
    this.registry = registry;
    this.devTls = devTls;
    this.audit = audit;
  }

  /** Starts the KMS with kms-core's protocol service, assembled from {@code config.core}. */
  public static KmsApplication start(ApiConfig config, Map<String, String> env)
      throws Exception {
    return start(config, env, coreOperations(config.core()));
  }

  /**
   * Starts the KMS.
   *
   * @param config the configuration ({@link io.imskms.api.config.ConfigLoader})
   * @param env where {@code KMS_HSM_PIN} is looked up (normally {@link System#getenv()})
   * @param factory builds the protocol operations over the HSM
   */
  public static KmsApplication start(ApiConfig config, Map<String, String> env,
      OperationsFactory factory) throws Exception {
    return start(config, env, factory, AuditLog::open);
  }

  static KmsApplication start(ApiConfig config, Map<String, String> env,
      OperationsFactory factory, AuditOpener auditOpener) throws Exception {
    DevTls dev = null;
    if (config.dev().enabled()) {
      dev = DevTls.ensure(Path.of(config.dev().tlsDir()), config.dev().mailboxes());
      config = config.withTls(new ApiConfig.Tls(config.tls().protocols(),
          dev.serverCert().toString(), dev.serverKey().toString(), dev.caCert().toString(),
          config.tls().keyStore()));
      LOG.info("development TLS material in {}", dev.dir());
    }
    char[] pin = PinSource.read(config.hsm(), env);
    Hsm hsm = null;
    Vertx vertx = null;
    AuditLog audit = null;
    try {
      HttpServerOptions http = ServerTls.apply(new HttpServerOptions()
          .setHost(config.http().host())
          .setPort(config.http().port())
          .setIdleTimeout(config.http().idleTimeoutSeconds())
          .setIdleTimeoutUnit(TimeUnit.SECONDS)
          .setMaxHeaderSize(16 * 1024), config, pin);
      hsm = Pkcs11Hsm.open(hsmConfig(config, pin));
      audit = openAudit(config, hsm, auditOpener);
      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      vertx = Vertx.builder()
          .with(new VertxOptions().setMetricsOptions(new MicrometerMetricsOptions()
              .setEnabled(true)
              .setJvmMetricsEnabled(true)
              // No HTTP_METHOD: a client may send any token as its method, and a meter per
              // token would grow without bound; kms_http_requests counts the method (OTHER for
              // any token outside the standard ones).
              .setLabels(EnumSet.of(Label.HTTP_ROUTE, Label.HTTP_CODE, Label.POOL_TYPE,
                  Label.POOL_NAME, Label.EB_SIDE))))
          .withMetrics(new MicrometerMetricsFactory(registry))
          .build();
      Hsm metered = MeteredHsm.wrap(hsm, new ApiMetrics(registry));
      ReplayDefence replay = ReplayDefence.open(config, vertx, Clock.systemUTC());
      KmsOperations operations = factory.create(metered, replay.guard());
      KmsServer server = new KmsServer(config, http, operations, hsm::status, registry, audit,
          pseudonyms(config, hsm));
      server.replayDefence(replay);
      vertx.deployVerticle(server).await();
      AuditLog log = audit;
      if (operations instanceof CoreOperations) {
        CoreOperations core = (CoreOperations) operations;
        Vertx v = vertx;
        String[] lastError = {null};
        v.setPeriodic(config.core().directoryReloadSeconds() * 1000L,
            id -> v.executeBlocking(() -> {
              recordReload(log, core.reloadDirectory(), lastError);
              return null;
            }));
        String[] lastKeyError = {null};
        v.setPeriodic(config.core().keyPollSeconds() * 1000L,
            id -> v.executeBlocking(() -> {
              recordKeyRefresh(log, core.refreshKeys(), lastKeyError);
              return null;
            }));
        String[] lastPrincipalError = {null};
        // The identity in a devices.state record is pseudonymised like the request records'.
        AuditPseudonyms devicePseudonyms = AuditPseudonyms.enabled(config.audit())
            ? AuditPseudonyms.open(hsm, config.audit()) : null;
        v.setPeriodic(config.core().keyPollSeconds() * 1000L,
            id -> v.executeBlocking(() -> {
              recordPrincipalRefresh(log, core.refreshPrincipals(), lastPrincipalError,
                  devicePseudonyms);
              return null;
            }));
      }
      watchHsm(vertx, hsm, log);
      try {
        audit.append(AuditEvent.builder("server.start", AuditEvent.Outcome.INFO)
            .detail("KMS listening on port " + server.actualPort() + "; token '"
                + config.hsm().tokenLabel() + "'; audit key " + config.audit().keyLabel()
                + "; identities " + config.audit().identities() + "; config "
                + configDigest(config) + (dev != null ? "; dev mode" : "")).build())
            .get(AUDIT_WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        throw new AuditStartException("the start-up record could not be written to the audit log"
            + " in " + config.audit().dir() + ": refusing to serve without an audit trail", e);
      }
      if (operations instanceof CoreOperations core && !core.keyStates().isEmpty()) {
        // The lifecycle state this node starts with: changes made while it was down show here.
        audit.append(AuditEvent.builder("keys.state", AuditEvent.Outcome.INFO)
            .detail("at start: " + String.join(", ", core.keyStates())).build());
      }
      if (operations instanceof CoreOperations core && !core.principalSummary().isEmpty()) {
        audit.append(AuditEvent.builder("devices.state", AuditEvent.Outcome.INFO)
            .detail("at start: " + core.principalSummary()).build());
      }
      return new KmsApplication(vertx, hsm, server, registry, dev, audit);
    } catch (Exception | Error e) {
      if (vertx != null) {
        vertx.close().await();
      }
      if (audit != null) {
        audit.close();
      }
      if (hsm != null) {
        hsm.close();
      }
      throw e;
    } finally {
      Arrays.fill(pin, '\0');
    }
  }

  /**
   * The audit log, signed by the Ed25519 key in the token: generated there when keys are
   * provisioned implicitly (dev mode, {@code core.provisionKeys}); otherwise {@code kms token
   * init} made it and its absence stops the start.
   */
  private static AuditLog openAudit(ApiConfig config, Hsm hsm, AuditOpener opener)
      throws Exception {
    ApiConfig.Audit a = config.audit();
    if (config.dev().enabled() || config.core().provisionKeys()) {
      if (AuditKeys.ensure(hsm, a)) {
        LOG.info("generated the audit checkpoint key {} in the token", a.keyLabel());
      }
    } else if (!AuditKeys.present(hsm, a)) {
      throw new AuditStartException("the audit checkpoint key '" + a.keyLabel() + "' is not in"
          + " the token: run kms token init (it generates it); refusing to start without an"
          + " audit trail");
    }
    AuditLog log = opener.open(AuditKeys.options(a),
        new HsmCheckpointSigner(hsm, a.origin(), a.keyLabel()));
    LOG.info("audit log {} in {} ({} records; verifier key {})", a.origin(), a.dir(),
        log.size(), log.verifierKey().encode());
    return log;
  }

  /**
   * The SHA-256 (first 16 bytes, hex) of the effective configuration as it prints (it holds no
   * secret: the PIN is read apart): two start-ups with different digests ran with different
   * settings, which is how a configuration change shows in the audit trail (the server does not
   * reload its configuration; a change takes a restart).
   */
  static String configDigest(ApiConfig config) {
    byte[] h = io.imskms.audit.Merkle.sha256(
        config.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    return "sha256:" + java.util.HexFormat.of().formatHex(h, 0, 16);
  }

  /**
   * The pseudonymiser of identities in records when {@code audit.identities} is pseudonymised
   * (its key generated in the token when keys are provisioned implicitly, else made by {@code
   * kms token init}; without it the server does not start); null for identities in clear.
   */
  private static AuditPseudonyms pseudonyms(ApiConfig config, Hsm hsm) throws Exception {
    ApiConfig.Audit a = config.audit();
    if (config.dev().enabled() || config.core().provisionKeys()) {
      if (AuditPseudonyms.ensure(hsm, a)) {
        LOG.info("generated the audit pseudonym key {}#v{} in the token", a.pseudonymKeyLabel(),
            AuditPseudonyms.KEY_VERSION);
      }
    }
    if (!AuditPseudonyms.enabled(a)) {
      return null;
    }
    if (!AuditPseudonyms.present(hsm, a)) {
      throw new AuditStartException("audit.identities is pseudonymised but the pseudonym key '"
          + a.pseudonymKeyLabel() + "#v" + AuditPseudonyms.KEY_VERSION + "' is not in the token:"
          + " run kms token init (it generates it); refusing to record identities in clear");
    }
    LOG.info("audit identities pseudonymised with {}#v{}", a.pseudonymKeyLabel(),
        AuditPseudonyms.KEY_VERSION);
    return AuditPseudonyms.open(hsm, a);
  }

  /** Records HSM faults and recoveries, as the adapter's readiness changes. */
  private static void watchHsm(Vertx vertx, Hsm hsm, AuditLog audit) {
    boolean[] wasReady = {hsm.status().ready()};
    vertx.setPeriodic(1000, id -> {
      HsmStatus s = hsm.status();
      if (s.ready() == wasReady[0]) {
        return;
      }
      wasReady[0] = s.ready();
      AuditEvent e = s.ready()
          ? AuditEvent.builder("hsm.recovered", AuditEvent.Outcome.INFO)
              .detail("token usable again (session generation " + s.generation() + ", "
                  + s.recoveries() + " recoveries)").build()
          : AuditEvent.builder("hsm.fault", AuditEvent.Outcome.FAULT).code("HSM_UNAVAILABLE")
              .detail("token unavailable: " + s.lastError()).build();
      audit.append(e).whenComplete((r, t) -> {
        if (t != null) {
          LOG.error("audit record {} not written: {}", e.event(), t.getMessage());
        }
      });
    });
  }

  /**
   * Records what this node observed of the long-term key lifecycle: each version that appeared or
   * changed state (the CLI that changed it cannot write this node's log), and a failing poll
   * once per distinct error.
   */
  /** One devices.state record per principal whose standing a poll saw change, or the fault. */
  private static void recordPrincipalRefresh(AuditLog audit, CoreOperations.PrincipalRefresh r,
      String[] lastError, AuditPseudonyms pseudonyms) {
    List<AuditEvent> events = new java.util.ArrayList<>();
    for (io.imskms.core.principals.PrincipalRecord.Entry e : r.changes()) {
      String observed = "observed: " + (e.revoked() ? "revoked" : "accepted") + ", generation "
          + e.generation();
      AuditEvent ev = AuditEvent.builder("devices.state", AuditEvent.Outcome.OK).idA(e.id())
          .detail(observed).build();
      if (pseudonyms != null) {
        try {
          ev = pseudonyms.apply(ev, false);
        } catch (HsmException x) {
          ev = AuditEvent.builder("devices.state", AuditEvent.Outcome.OK)
              .detail(observed + " (identity withheld: pseudonym not computed: " + x.getMessage()
                  + ")").build();
        }
      }
      events.add(ev);
    }
    if (r.error() == null) {
      lastError[0] = null;
    } else if (!r.error().equals(lastError[0])) {
      lastError[0] = r.error();
      events.add(AuditEvent.builder("devices.state", AuditEvent.Outcome.FAULT)
          .code("PRINCIPAL_STATE_UNREADABLE")
          .detail("principal record not re-read, previous state stays: " + r.error()).build());
    }
    for (AuditEvent e : events) {
      audit.append(e).whenComplete((x, t) -> {
        if (t != null) {
          LOG.error("audit record {} not written: {}", e.event(), t.getMessage());
        }
      });
    }
  }

  private static void recordKeyRefresh(AuditLog audit, CoreOperations.KeyRefresh r,
      String[] lastError) {
    List<AuditEvent> events = new java.util.ArrayList<>();
    for (String change : r.changes()) {
      events.add(AuditEvent.builder("keys.state", AuditEvent.Outcome.OK)
          .detail("observed: " + change).build());
    }
    if (r.error() == null) {
      lastError[0] = null;
    } else if (!r.error().equals(lastError[0])) {
      lastError[0] = r.error();
      events.add(AuditEvent.builder("keys.state", AuditEvent.Outcome.FAULT)
          .code("KEY_STATE_UNREADABLE")
          .detail("long-term keys not re-read, previous state stays: " + r.error()).build());
    }
    for (AuditEvent e : events) {
      audit.append(e).whenComplete((x, t) -> {
        if (t != null) {
          LOG.error("audit record {} not written: {}", e.event(), t.getMessage());
        }
      });
    }
  }

  private static void recordReload(AuditLog audit, CoreOperations.DirectoryReload r,
      String[] lastError) {
    AuditEvent e = null;
    if (r.reloaded()) {
      lastError[0] = null;
      e = AuditEvent.builder("directory.reload", AuditEvent.Outcome.OK)
          .detail("mailbox directory reloaded").build();
    } else if (r.error() != null && !r.error().equals(lastError[0])) {
      lastError[0] = r.error();
      e = AuditEvent.builder("directory.reload", AuditEvent.Outcome.FAULT)
          .code("DIRECTORY_INVALID")
          .detail("changed directory file refused, previous contents stay: " + r.error())
          .build();
    }
    if (e != null) {
      String name = e.event();
      audit.append(e).whenComplete((x, t) -> {
        if (t != null) {
          LOG.error("audit record {} not written: {}", name, t.getMessage());
        }
      });
    }
  }

  private static HsmConfig hsmConfig(ApiConfig config, char[] pin) throws ConfigException {
    ApiConfig.Hsm h = config.hsm();
    if (h.poolSize() < 1) {
      throw new ConfigException("hsm.poolSize must be at least 1");
    }
    if (h.sharedKeys() < 0 || h.sharedKeys() > HsmConfig.MAX_SHARED_KEYS) {
      throw new ConfigException("hsm.sharedKeys must be 0.." + HsmConfig.MAX_SHARED_KEYS);
    }
    Map<String, String> kcvs = Map.of();
    String manifest = config.core().keyManifest();
    boolean haveManifest = !manifest.isBlank() && Files.exists(Path.of(manifest));
    if (!haveManifest && !config.dev().enabled() && !config.core().provisionKeys()) {
      // Without the key check values recorded when the keys were made, a swapped token would
      // go unnoticed: production refuses to start (docs/architecture.md, threat model).
      throw new ConfigException("core.keyManifest must name the key manifest written when the"
          + " keys were generated (bin/kms token init writes it); refusing to start without it"
          + " outside dev mode");
    }
    if (haveManifest) {
      try {
        kcvs = KeyManifest.read(Path.of(manifest)).expectedKcvs();
      } catch (IOException e) {
        throw new ConfigException("cannot read the key manifest " + manifest + ": "
            + e.getMessage());
      }
    }
    return HsmConfig.builder()
        .expectedKcvs(kcvs)
        .modulePath(Path.of(h.module()))
        .tokenLabel(h.tokenLabel())
        .userPin(pin)
        .poolSize(h.poolSize())
        .borrowTimeout(Duration.ofMillis(h.borrowTimeoutMs()))
        .recycleAfterObjects(h.recycleAfterObjects())
        .recoveryInterval(Duration.ofMillis(h.recoveryIntervalMs()))
        .deriveTemplateSupported(h.deriveTemplateSupported())
        .sharedKeys(h.sharedKeys())
        .backupCapableKeys(config.core().keyBackup())
        .build();
  }

  /**
   * Runs the server until the process is stopped: {@code [--config FILE]} (default: built-in
   * defaults plus {@code KMS_*} variables). Exit status 1 when it cannot start; the reason is
   * logged. The {@code kms} command line wraps this.
   */
  public static void main(String[] args) {
    Path file = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--config") && i + 1 < args.length) {
        file = Path.of(args[++i]);
      } else {
        System.err.println("usage: KmsApplication [--config FILE]");
        System.exit(64);
      }
    }
    try {
      KmsApplication app = start(ConfigLoader.load(file), System.getenv());
      Runtime.getRuntime().addShutdownHook(new Thread(app::close, "kms-shutdown"));
    } catch (Exception e) {
      LOG.error("KMS did not start: {}", e.getMessage(), e);
      System.exit(1);
    }
  }

  /** The port the server listens on. */
  public int port() {
    return server.actualPort();
  }

  public Vertx vertx() {
    return vertx;
  }

  /** The adapter (unmetered), e.g. for key management at start-up. */
  public Hsm hsm() {
    return hsm;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The development TLS material, or null when dev mode is off. */
  public DevTls devTls() {
    return devTls;
  }

  /** The node's audit log. */
  public AuditLog audit() {
    return audit;
  }

  /**
   * Stops serving, records the shutdown, signs a final checkpoint (with the token still logged
   * in), then logs out.
   */
  @Override
  public void close() {
    try {
      vertx.close().await();
    } catch (Exception e) {
      LOG.warn("closing Vert.x failed: {}", e.toString());
    }
    try {
      audit.append(AuditEvent.builder("server.stop", AuditEvent.Outcome.INFO)
          .detail("KMS stopped").build()).get(AUDIT_WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      LOG.error("the shutdown record was not written to the audit log: {}", e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      audit.close();
      hsm.close();
    }
  }
}
