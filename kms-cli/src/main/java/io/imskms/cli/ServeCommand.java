package io.imskms.cli;

import io.imskms.api.KmsApplication;
import io.imskms.api.config.ApiConfig;
import io.imskms.hsm.HsmException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code kms serve}: the HTTPS server until SIGINT/SIGTERM. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = {
            "Run the KMS HTTPS server (vertx-api's KmsApplication) until SIGINT or SIGTERM, " +
            "then stop cleanly: close Vert.x (no new requests, in-flight ones end), then " +
            "log out of the HSM. Logs are JSON lines on standard output (docs/api.md, " +
            "\"Logging\"). In dev mode (dev.enabled) the self-signed TLS material is " +
            "created under dev.tlsDir. Before starting, it runs the checks of kms config " +
            "check and refuses to start (exit 2 or 3) if one fails."})
final class ServeCommand implements Callable<Integer> {
  private final CliContext ctx;

  @Mixin
  ConfigOption config;

  ServeCommand(CliContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public Integer call() throws Exception {
    ApiConfig cfg = config.load(ctx);
    // The checks of `kms config check`: a server that would fail later refuses to start now.
    java.util.List<ConfigChecks.Result> checks = ConfigChecks.run(cfg, ctx);
    if (checks.stream().anyMatch(r -> !r.ok())) {
      checks.stream().filter(r -> !r.ok()).forEach(r -> ctx.progress(r.line()));
      throw new CliException(ConfigChecks.exitCode(checks), "not starting: "
          + checks.stream().filter(r -> !r.ok()).count() + " configuration check(s) failed"
          + " (kms config check shows them all)");
    }
    ctx.progress("configuration checks passed (" + checks.size() + ")");
    KmsApplication app;
    try {
      app = KmsApplication.start(cfg, ctx.env());
    } catch (HsmException e) {
      throw HsmAccess.unavailable(cfg, e);
    }
    String host = "0.0.0.0".equals(cfg.http().host()) || "127.0.0.1".equals(cfg.http().host())
        ? "localhost" : cfg.http().host();
    String url = "https://" + host + ":" + app.port();
    ctx.progress("KMS ready on " + url + " (health: " + url + "/health/ready); Ctrl-C stops it");
    if (cfg.dev().enabled()) {
      ctx.progress("dev mode: TLS material in " + cfg.dev().tlsDir() + "; in another terminal run"
          + "  bin/kms demo" + (app.port() == 8443 ? "" : " --server " + url));
    }
    ctx.stopSignal().awaitThenRun(() -> {
      ctx.progress("stopping: closing Vert.x, then logging out of the HSM");
      app.close();
      ctx.progress("stopped");
    });
    return ExitCodes.OK;
  }
}
