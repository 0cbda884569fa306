package io.imskms.cli;

import io.imskms.api.audit.AuditKeys;
import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.audit.AuditEvent;
import io.imskms.api.config.ApiConfig;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.KeyVersionInfo;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.LongTermKeyInfo;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.TokenSetup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code kms token ...}: the token itself. */
@Command(name = "token", mixinStandardHelpOptions = true,
    description = "Manage the KMS token.", subcommands = TokenCommand.Init.class)
final class TokenCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "name a subcommand: init");
  }

  /** {@code kms token init}. */
  @Command(name = "init", mixinStandardHelpOptions = true,
      description = {
            "Create the token if it does not exist (C_InitToken/C_InitPIN through PKCS#11, " +
            "io.imskms.hsm.TokenSetup), generate the missing long-term keys (version 1 of " +
            "each purpose) inside it, and write the key manifest with their key check " +
            "values (core.keyManifest), and generate the audit checkpoint key (Ed25519, " +
            "audit.keyLabel) and the audit pseudonym key (HMAC, audit.pseudonymKeyLabel#v1) " +
            "and print the C2SP verifier keys of the node's and of this host's CLI audit " +
            "logs. The initialisation is recorded (token.init) in the CLI audit log. Idempotent: a second run " +
            "changes nothing. The token " +
            "is created only when an SO PIN is available (KMS_HSM_SO_PIN or --so-pin-file); " +
            "otherwise it must exist already (a real HSM's token is made by its " +
            "administrator). PINs are read from files or the environment, never printed."})
  static final class Init implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    @Option(names = "--so-pin-file", paramLabel = "FILE",
        description = "file holding the SO PIN, used only to create the token (default: so.pin"
            + " next to hsm.pinFile; KMS_HSM_SO_PIN wins when set)")
    Path soPinFile;

    Init(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      HsmAccess.checkPrerequisites(cfg, ctx);
      createTokenIfNeeded(cfg);
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        // The audit keys first: the rest of the initialisation is recorded in the CLI audit
        // log, which the checkpoint key signs (and the pseudonym key fills, if configured).
        boolean made = AuditKeys.ensure(hsm, cfg.audit());
        boolean madePseudonym = AuditPseudonyms.ensure(hsm, cfg.audit());
        CliAudit.step(cfg, hsm, ctx, "token.init", rec -> {
          provision(cfg, hsm, rec, made, madePseudonym);
          return null;
        });
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }

    /** The long-term keys and the manifest; what was generated goes into {@code rec}. */
    private void provision(ApiConfig cfg, Pkcs11Hsm hsm, AuditEvent.Builder rec, boolean made,
        boolean madePseudonym) throws Exception {
      Set<String> before = new HashSet<>();
      for (LongTermKeyInfo k : hsm.listLongTermKeys()) {
        before.add(k.label() + "#v" + k.version());
      }
      List<String> generated = new ArrayList<>();
      if (made) {
        generated.add(cfg.audit().keyLabel());
      }
      if (madePseudonym) {
        generated.add(cfg.audit().pseudonymKeyLabel() + "#v" + AuditPseudonyms.KEY_VERSION);
      }
      rec.detail("generated: " + (generated.isEmpty() ? "none" : String.join(",", generated)));
      KeyRing ring = KeyRing.ensureProvisioned(hsm);
      List<String> versions = new ArrayList<>();
      for (KeyVersionInfo k : ring.describe()) {
        boolean created = !before.contains(k.label() + "#v" + k.version());
        versions.add(k.label() + ":" + k.version());
        if (created) {
          generated.add(k.label() + "#v" + k.version() + " (kcv " + k.kcv() + ")");
        }
        ctx.out().printf("%-18s v%-3d %-12s kcv %s  %s%n", k.label(), k.version(), k.purpose(),
            k.kcv(), created ? "generated now" : "already in the token");
      }
      Collections.sort(versions);
      rec.keyVersions(String.join(",", versions)).detail("token '" + cfg.hsm().tokenLabel()
          + "' initialised; generated: " + (generated.isEmpty() ? "none"
          : String.join(", ", generated)));
      String manifest = cfg.core().keyManifest();
      if (manifest.isBlank()) {
        ctx.progress("core.keyManifest is not configured: no manifest written");
      } else {
        try {
          ring.writeManifest(Path.of(manifest));
        } catch (IOException e) {
          throw new CliException(ExitCodes.FAILURE, "manifest " + manifest + " not written: "
              + e.getMessage());
        }
        ctx.progress("key manifest: " + manifest + " (" + ring.describe().size()
            + " keys; its KCVs are checked at every log-in)");
      }
      // The audit checkpoint key: its verifier key is what auditors verify the log with.
      ctx.out().printf("%-18s %-17s %s%n", cfg.audit().keyLabel(), "audit Ed25519",
          made ? "generated now" : "already in the token");
      ctx.out().printf("%-18s %-17s %s%n", cfg.audit().pseudonymKeyLabel() + "#v"
          + AuditPseudonyms.KEY_VERSION, "audit pseudonyms",
          madePseudonym ? "generated now" : "already in the token");
      ctx.out().println("audit verifier key: " + AuditKeys.verifierKey(hsm, cfg.audit())
          .encode());
      ctx.out().println("audit verifier key (CLI steps on this host): "
          + CliAudit.verifierKey(hsm, cfg).encode());
      ctx.progress("give the audit verifier keys to the auditors (kms audit key [--cli] prints"
          + " them again): kms audit verify --key VKEY --key CLI_VKEY " + cfg.audit().dir() + " "
          + CliAudit.directory(cfg));
    }

    private void createTokenIfNeeded(ApiConfig cfg) throws CliException {
      char[] so = soPin(cfg);
      if (so == null) {
        ctx.progress("no SO PIN (KMS_HSM_SO_PIN or " + defaultSoPinFile(cfg) + "): not creating"
            + " a token; token '" + cfg.hsm().tokenLabel() + "' must exist");
        return;
      }
      char[] user = HsmAccess.userPin(cfg, ctx);
      try {
        boolean created = TokenSetup.ensureToken(Path.of(cfg.hsm().module()),
            cfg.hsm().tokenLabel(), so, user);
        ctx.progress("token '" + cfg.hsm().tokenLabel() + "': "
            + (created ? "created" : "exists; reused"));
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      } finally {
        Arrays.fill(so, '\0');
        Arrays.fill(user, '\0');
      }
    }

    private Path defaultSoPinFile(ApiConfig cfg) {
      if (soPinFile != null) {
        return soPinFile;
      }
      Path parent = Path.of(cfg.hsm().pinFile()).toAbsolutePath().getParent();
      return parent.resolve("so.pin");
    }

    /** The SO PIN, or null when none is available. */
    private char[] soPin(ApiConfig cfg) throws CliException {
      String env = ctx.env().get("KMS_HSM_SO_PIN");
      if (env != null && !env.isEmpty()) {
        return env.toCharArray();
      }
      Path file = defaultSoPinFile(cfg);
      if (!Files.isRegularFile(file)) {
        if (soPinFile != null) {
          throw new CliException(ExitCodes.PREREQUISITE, "SO PIN file not found: " + file);
        }
        return null;
      }
      try {
        return HsmConfig.readPinFile(file);
      } catch (IOException e) {
        throw new CliException(ExitCodes.PREREQUISITE, "cannot read the SO PIN file " + file);
      }
    }
  }
}
