package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.core.principals.PrincipalRecord;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code kms devices ...}: revoking and reinstating principals (docs/cli.md, docs/architecture.md
 * "Devices"). The record of revoked and re-enrolled principals lives in the token, so every node
 * using the token refuses a revoked principal within {@code core.keyPollSeconds}. Each change is
 * recorded in this host's CLI audit log ({@link CliAudit}: {@code devices.revoke},
 * {@code devices.reinstate}) before the command reports success; each server also records what it
 * observes ({@code devices.state} in its own log).
 */
@Command(name = "devices", mixinStandardHelpOptions = true,
    description = "Revoke and reinstate principals (devices and mailboxes), list the revoked"
        + " ones.",
    subcommands = {DevicesCommand.Revoke.class, DevicesCommand.ListRevoked.class,
        DevicesCommand.Reinstate.class})
final class DevicesCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(),
        "name a subcommand: revoke, list-revoked, reinstate");
  }

  /** The identity in normal form, or a usage error. */
  static String identity(CommandSpec spec, String id) {
    try {
      return Identity.normalise(id);
    } catch (ProtocolException e) {
      throw new ParameterException(spec.commandLine(), "ID is not a SIP, SIPS or tel identity"
          + " (docs/protocol.md §2)");
    }
  }

  /** One change of the principal record, made by {@link #change}; it fills its audit record. */
  interface Change {
    void apply(PrincipalRegistry registry, io.imskms.audit.AuditEvent.Builder record)
        throws Exception;
  }

  /**
   * Loads the principal record of the configured token and applies {@code change}, recorded as
   * {@code event} in the CLI audit log (opened first: no record, no change). A change the rules
   * refuse, or a record that does not verify, is a failure (exit 1); an unusable HSM exit 3.
   */
  static int change(CliContext ctx, ConfigOption config, String event, Change change)
      throws Exception {
    ApiConfig cfg = config.load(ctx);
    try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
      CliAudit.step(cfg, hsm, ctx, event, rec -> {
        change.apply(PrincipalRegistry.load(hsm), rec);
        return null;
      });
    } catch (HsmPolicyException | HsmIntegrityException e) {
      throw new CliException(ExitCodes.FAILURE, e.getMessage(), e);
    } catch (HsmException e) {
      throw HsmAccess.unavailable(cfg, e);
    }
    ctx.out().flush();
    return ExitCodes.OK;
  }

  /** {@code kms devices revoke ID [--reason TEXT]}. */
  @Command(name = "revoke", mixinStandardHelpOptions = true,
      description = {
            "Revoke the principal ID (a UE or a mailbox): every node refuses its bootstrap, " +
            "and every request that carries one of its B-TIDs (made before or after), with " +
            "403 PRINCIPAL_REVOKED within core.keyPollSeconds (2 s), and after any restart. " +
            "Its credential stays revoked until kms devices reinstate ID; to give the " +
            "principal a new credential and make the old one useless for good, re-enrol it " +
            "(kms enroll ID --replace ...). Revoking a revoked principal changes nothing."})
  static final class Revoke implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOption config;

    @Parameters(index = "0", paramLabel = "ID",
        description = "the principal's identity, e.g. sip:alice@ims.example.com")
    String id;

    @Option(names = "--reason", paramLabel = "TEXT",
        description = "why (1.." + PrincipalRecord.MAX_REASON + " printable characters; kept"
            + " in the record and the audit log, shown by list-revoked)")
    String reason;

    Revoke(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      String principal = identity(spec, id);
      if (reason != null) {
        try {
          PrincipalRecord.checkReason(reason);
        } catch (IllegalArgumentException e) {
          throw new ParameterException(spec.commandLine(), "--reason: " + e.getMessage());
        }
      }
      return change(ctx, config, "devices.revoke", (registry, rec) -> {
        rec.idA(principal).detail("revoke" + (reason == null ? "" : ": " + reason));
        PrincipalRegistry.Change c = registry.revoke(principal, reason);
        String since = c.after().revokedAt().map(Instant::toString).orElse("-");
        if (c.written()) {
          rec.detail("revoked, generation " + c.after().generation()
              + (reason == null ? "" : ": " + reason));
          ctx.out().println("revoked " + principal + " at " + since + "; every node refuses it"
              + " within core.keyPollSeconds");
        } else {
          rec.detail("already revoked since " + since + "; nothing changed");
          ctx.out().println(principal + " is already revoked (since " + since + "); nothing"
              + " changed");
        }
      });
    }
  }

  /** {@code kms devices reinstate ID}. */
  @Command(name = "reinstate", mixinStandardHelpOptions = true,
      description = {
            "Lift the revocation of ID: its current credential, and its B-TIDs that have not " +
            "expired, are accepted again on every node within core.keyPollSeconds. Fails " +
            "(exit 1) if ID is not revoked."})
  static final class Reinstate implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOption config;

    @Parameters(index = "0", paramLabel = "ID", description = "the principal's identity")
    String id;

    Reinstate(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      String principal = identity(spec, id);
      return change(ctx, config, "devices.reinstate", (registry, rec) -> {
        rec.idA(principal).detail("reinstate");
        PrincipalRegistry.Change c = registry.reinstate(principal);
        rec.detail("reinstated, generation " + c.after().generation());
        ctx.out().println("reinstated " + principal + " (credential generation "
            + c.after().generation() + "); every node accepts it within core.keyPollSeconds");
      });
    }
  }

  /** {@code kms devices list-revoked}. */
  @Command(name = "list-revoked", mixinStandardHelpOptions = true,
      description = {
            "List the revoked principals: identity, credential generation, when revoked " +
            "(UTC) and the reason given. Reads the token's record (the one every node " +
            "polls); prints only the header when nobody is revoked."})
  static final class ListRevoked implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    ListRevoked(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      List<PrincipalRecord.Entry> revoked;
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        revoked = PrincipalRegistry.load(hsm).revokedPrincipals();
      } catch (HsmIntegrityException e) {
        throw new CliException(ExitCodes.FAILURE, e.getMessage(), e);
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      }
      String format = "%-40s %10s  %-20s  %s%n";
      ctx.out().printf(format, "ID", "GENERATION", "REVOKED", "REASON");
      for (PrincipalRecord.Entry e : revoked) {
        ctx.out().printf(format, e.id(), e.generation(),
            e.revokedAt().map(Instant::toString).orElse("-"), e.reason().orElse("-"));
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }
}
