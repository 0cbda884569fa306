package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code kms config ...}: the configuration. */
@Command(name = "config", mixinStandardHelpOptions = true,
    description = "Check the server's configuration.", subcommands = ConfigCommand.Check.class)
final class ConfigCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "name a subcommand: check");
  }

  /** {@code kms config check}. */
  @Command(name = "check", mixinStandardHelpOptions = true,
      description = {
            "Validate a configuration before the server starts, one line per check (PASS or " +
            "FAIL, and for a failure what to do): the file parses; the PKCS#11 library is " +
            "present and loads; the user PIN is available; the token is found by label; it " +
            "offers every required mechanism (all missing ones named); login works; every " +
            "key of the key manifest is in the token with its recorded KCV, sensitive, " +
            "unmodifiable, and never extractable or extractable only under a trusted key " +
            "(core.keyBackup), and how many were restored from a backup; the mailbox " +
            "directory loads; the TLS certificate, key (file " +
            "or token) and client CA are readable, valid now and belong together; the listen " +
            "address is free; the writable paths are writable. kms serve runs the same " +
            "checks and refuses to start on a failure.",
            "Exit code: 0 when every check passed, else that of the first failure."})
  static final class Check implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    Check(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg;
      try {
        cfg = config.load(ctx);
      } catch (CliException e) {
        ctx.out().println("FAIL  configuration parses: " + e.getMessage());
        ctx.out().flush();
        return e.exitCode();
      }
      ctx.out().println("PASS  configuration parses: " + config.describe(ctx));
      List<ConfigChecks.Result> results = ConfigChecks.run(cfg, ctx);
      results.forEach(r -> ctx.out().println(r.line()));
      long failed = results.stream().filter(r -> !r.ok()).count();
      ctx.out().println(failed == 0 ? "configuration OK (" + (results.size() + 1) + " checks)"
          : failed + " check(s) failed");
      ctx.out().flush();
      return ConfigChecks.exitCode(results);
    }
  }
}
