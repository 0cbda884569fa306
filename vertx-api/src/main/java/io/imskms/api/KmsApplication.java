package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.ConfigLoader;
import io.imskms.api.config.PinSource;
import io.imskms.api.tls.DevTls;
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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running KMS: Vert.x with Micrometer metrics, the HSM adapter logged in to the configured
 * token, and one {@link KmsServer}. {@link #start} blocks until the server listens (or fails);
 * {@link #close} undeploys, closes Vert.x and logs out of the token.
 */
public final class KmsApplication implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KmsApplication.class);

  /** Builds the protocol operations over the (metered) HSM. */
  @FunctionalInterface
  public interface OperationsFactory {
    KmsOperations create(Hsm hsm) throws Exception;
  }

  private final Vertx vertx;
  private final Hsm hsm;
  private final KmsServer server;
  private final PrometheusMeterRegistry registry;
  private final DevTls devTls;

  private KmsApplication(Vertx vertx, Hsm hsm, KmsServer server,
      PrometheusMeterRegistry registry, DevTls devTls) {
    this.vertx = vertx;
    this.hsm = hsm;
    this.server = server;
    this.registry = registry;
    this.devTls = devTls;
  }

  /** Starts the KMS with kms-core's protocol service, assembled from {@code config.core}. */
  public static KmsApplication start(ApiConfig config, Map<String, String> env)
      throws Exception {
    return start(config, env, hsm -> CoreOperations.open(config.core(), hsm));
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
    DevTls dev = null;
    if (config.dev().enabled()) {
      dev = DevTls.ensure(Path.of(config.dev().tlsDir()), config.dev().mailboxes());
      config = new ApiConfig(config.http(), new ApiConfig.Tls(config.tls().protocols(),
          dev.serverCert().toString(), dev.serverKey().toString(), dev.caCert().toString(),
          config.tls().keyStore()), config.hsm(), config.worker(), config.core(), config.dev());
      LOG.info("development TLS material in {}", dev.dir());
    }
    char[] pin = PinSource.read(config.hsm(), env);
    Hsm hsm = null;
    Vertx vertx = null;
    try {
      HttpServerOptions http = ServerTls.apply(new HttpServerOptions()
          .setHost(config.http().host())
          .setPort(config.http().port())
          .setIdleTimeout(config.http().idleTimeoutSeconds())
          .setIdleTimeoutUnit(TimeUnit.SECONDS)
          .setMaxHeaderSize(16 * 1024), config, pin);
      hsm = Pkcs11Hsm.open(hsmConfig(config, pin));
      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      vertx = Vertx.builder()
          .with(new VertxOptions().setMetricsOptions(new MicrometerMetricsOptions()
              .setEnabled(true)
              .setJvmMetricsEnabled(true)
              .addLabels(Label.HTTP_ROUTE, Label.HTTP_METHOD, Label.HTTP_CODE)))
          .withMetrics(new MicrometerMetricsFactory(registry))
          .build();
      Hsm metered = MeteredHsm.wrap(hsm, new ApiMetrics(registry));
      KmsOperations operations = factory.create(metered);
      KmsServer server = new KmsServer(config, http, operations, hsm::status, registry);
      vertx.deployVerticle(server).await();
      if (operations instanceof CoreOperations) {
        CoreOperations core = (CoreOperations) operations;
        Vertx v = vertx;
        v.setPeriodic(config.core().directoryReloadSeconds() * 1000L,
            id -> v.executeBlocking(() -> {
              core.reloadDirectory();
              return null;
            }));
      }
      return new KmsApplication(vertx, hsm, server, registry, dev);
    } catch (Exception | Error e) {
      if (vertx != null) {
        vertx.close().await();
      }
      if (hsm != null) {
        hsm.close();
      }
      throw e;
    } finally {
      Arrays.fill(pin, '\0');
    }
  }

  private static HsmConfig hsmConfig(ApiConfig config, char[] pin) throws ConfigException {
    ApiConfig.Hsm h = config.hsm();
    if (h.poolSize() < 1) {
      throw new ConfigException("hsm.poolSize must be at least 1");
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

  @Override
  public void close() {
    try {
      vertx.close().await();
    } catch (Exception e) {
      LOG.warn("closing Vert.x failed: {}", e.toString());
    } finally {
      hsm.close();
    }
  }
}
