package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.KeyVersionInfo;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.Pkcs11Hsm;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code kms keys ...}: the long-term keys. */
@Command(name = "keys", mixinStandardHelpOptions = true,
    description = "Inspect the long-term keys.", subcommands = KeysCommand.ListKeys.class)
final class KeysCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "name a subcommand: list");
  }

  /** {@code kms keys list}. */
  @Command(name = "list", mixinStandardHelpOptions = true,
      description = {
            "List every long-term key in the token: label, version, purpose, state (active " +
            "= used for new messages, old = still accepted in messages that name it) and " +
            "key check value (computed in the HSM; reveals nothing about the key)."})
  static final class ListKeys implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    ListKeys(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      List<KeyVersionInfo> keys;
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        keys = KeyRing.load(hsm).describe();
      } catch (HsmException e) {
        throw new CliException(ExitCodes.HSM_UNAVAILABLE, "cannot load the long-term keys of"
            + " token '" + cfg.hsm().tokenLabel() + "' (run bin/kms token init?): "
            + e.getMessage(), e);
      }
      String format = "%-18s %7s  %-12s %-6s  %s%n";
      ctx.out().printf(format, "LABEL", "VERSION", "PURPOSE", "STATE", "KCV");
      for (KeyVersionInfo k : keys) {
        ctx.out().printf(format, k.label(), k.version(), k.purpose(),
            k.active() ? "active" : "old", k.kcv());
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }
}
