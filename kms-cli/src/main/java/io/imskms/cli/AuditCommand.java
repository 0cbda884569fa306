package io.imskms.cli;

import io.imskms.api.audit.AuditKeys;
import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.api.config.ApiConfig;
import io.imskms.audit.AuditCli;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code kms audit ...}: the audit log (docs/audit-format.md). {@code key} reads the public half
 * of the checkpoint key from the token; the others are offline and need only the verifier key
 * ({@link AuditCli}): no HSM, no server.
 */
@Command(name = "audit", mixinStandardHelpOptions = true,
    description = "The audit log: the verifier key, offline verification and proofs"
        + " (docs/audit-format.md).",
    subcommands = {AuditCommand.Key.class, AuditCommand.Verify.class, AuditCommand.Prove.class,
        AuditCommand.VerifyProof.class, AuditCommand.Pseudonym.class})
final class AuditCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(),
        "name a subcommand: key, verify, prove, verify-proof, pseudonym");
  }

  /** {@code kms audit key}. */
  @Command(name = "key", mixinStandardHelpOptions = true,
      description = {"Print the C2SP signed-note verifier key (name+hash+base64) of this node's"
          + " audit checkpoints, read from the token (the private key never leaves it). Give it"
          + " to the auditors: kms audit verify --key VKEY DIR.",
          "With --cli: the verifier key of this host's CLI audit log (<audit.dir>/cli-<host>,"
          + " records of token init, keys rotate/state, enroll, tls keygen/import-cert...):"
          + " the same token key under the CLI log's own name."})
  static final class Key implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    @Option(names = "--cli", description = "the key of this host's CLI audit log")
    boolean cli;

    Key(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        if (!AuditKeys.present(hsm, cfg.audit())) {
          throw new CliException(ExitCodes.HSM_UNAVAILABLE, "the audit checkpoint key '"
              + cfg.audit().keyLabel() + "' is not in the token: kms token init generates it");
        }
        ctx.out().println(cli ? CliAudit.verifierKey(hsm, cfg).encode()
            : AuditKeys.verifierKey(hsm, cfg.audit()).encode());
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }

  /** {@code kms audit pseudonym ID}. */
  @Command(name = "pseudonym", mixinStandardHelpOptions = true,
      description = {"Print the pseudonym (p1:...) that audit records carry for the identity ID"
          + " when audit.identities is pseudonymised: HMAC-SHA-256 under the pseudonym key in"
          + " the token (docs/audit-format.md, \"Identities\"). Needs the PIN; the verifier key"
          + " alone cannot compute or reverse a pseudonym. Records are searched for the printed"
          + " value (e.g. grep, then kms audit prove --request-id). Each look-up is itself"
          + " recorded (audit.pseudonym) in this host's CLI audit log, with the pseudonym, not"
          + " the identity."})
  static final class Pseudonym implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    @Parameters(index = "0", paramLabel = "ID",
        description = "the identity exactly as records hold it, e.g. sip:alice@ims.example.com")
    String id;

    Pseudonym(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      try {
        String normal = Identity.normalise(id);
        if (!normal.equals(id)) {
          ctx.progress("warning: records hold identities in normal form; '" + id + "' is not"
              + " (normal form: " + normal + ")");
        }
      } catch (ProtocolException e) {
        ctx.progress("note: '" + id + "' is not a SIP, SIPS or tel identity; computing the"
            + " pseudonym of the string as given");
      }
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        AuditPseudonyms pseudonyms;
        try {
          pseudonyms = AuditPseudonyms.open(hsm, cfg.audit());
        } catch (HsmException e) {
          throw new CliException(ExitCodes.HSM_UNAVAILABLE, "the audit pseudonym key '"
              + cfg.audit().pseudonymKeyLabel() + "#v" + AuditPseudonyms.KEY_VERSION
              + "' is not usable (kms token init generates it): " + e.getMessage(), e);
        }
        String p = CliAudit.step(cfg, hsm, ctx, "audit.pseudonym", rec -> {
          rec.idA(id).detail("pseudonym computed for an audit look-up");
          return pseudonyms.pseudonym(id);
        });
        ctx.out().println(p);
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      }
      if (!AuditPseudonyms.enabled(cfg.audit())) {
        ctx.progress("note: audit.identities is " + cfg.audit().identities() + ": this node's"
            + " records hold identities in clear");
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }

  /** The offline commands: everything after the subcommand goes to {@link AuditCli}. */
  abstract static class Offline implements Callable<Integer> {
    private final CliContext ctx;

    @Unmatched
    List<String> args = new ArrayList<>();

    Offline(CliContext ctx) {
      this.ctx = ctx;
    }

    abstract String name();

    @Override
    public Integer call() {
      List<String> all = new ArrayList<>();
      all.add(name());
      all.addAll(args);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int code;
      try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
          PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
        code = AuditCli.run(all.toArray(String[]::new), o, e);
      }
      ctx.out().print(out.toString(StandardCharsets.UTF_8));
      ctx.out().flush();
      ctx.err().print(err.toString(StandardCharsets.UTF_8));
      ctx.err().flush();
      return code;
    }
  }

  /** {@code kms audit verify}. */
  @Command(name = "verify", mixinStandardHelpOptions = true,
      description = {"kms audit verify --key VKEY [--key VKEY...] [--checkpoint FILE...] DIR...",
          "Offline, with only the verifier key(s): checks every checkpoint's signature and"
              + " origin, recomputes the Merkle tree from the records, checks each checkpoint"
              + " against it (and the --checkpoint notes a witness kept), and names the first"
              + " bad record: EDITED, INSERTED, DELETED, REORDERED, TRUNCATED, ROLLBACK, FORK;"
              + " TORN_LINE_CRASH and NOT_YET_COVERED are notes, not failures. One report per"
              + " directory (node).",
          "Exit: 0 verified, 1 tampering found, 2 directory missing, 64 usage."})
  static final class Verify extends Offline {
    Verify(CliContext ctx) {
      super(ctx);
    }

    @Override
    String name() {
      return "verify";
    }
  }

  /** {@code kms audit prove}. */
  @Command(name = "prove", mixinStandardHelpOptions = true,
      description = {"kms audit prove --dir DIR (--index N | --request-id ID) [--size S]"
          + " [--out FILE]",
          "kms audit prove --dir DIR --from S1 [--to S2] [--out FILE]",
          "An RFC 9162 inclusion proof of one record against a signed checkpoint, or a"
              + " consistency proof between two checkpoints (JSON; docs/audit-format.md,"
              + " \"Proofs and disputes\")."})
  static final class Prove extends Offline {
    Prove(CliContext ctx) {
      super(ctx);
    }

    @Override
    String name() {
      return "prove";
    }
  }

  /** {@code kms audit verify-proof}. */
  @Command(name = "verify-proof", mixinStandardHelpOptions = true,
      description = {"kms audit verify-proof --key VKEY FILE",
          "Checks a proof of kms audit prove: the checkpoints' signatures, the record's"
              + " canonical form and the RFC 9162 path. Exit: 0 valid, 1 invalid."})
  static final class VerifyProof extends Offline {
    VerifyProof(CliContext ctx) {
      super(ctx);
    }

    @Override
    String name() {
      return "verify-proof";
    }
  }
}
