package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.files.OwnerOnlyFiles;
import io.imskms.protocol.EnrolmentRequest;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code kms enroll}: a principal's credential Kp, through the HSM (docs/protocol.md §5). */
@Command(name = "enroll", mixinStandardHelpOptions = true,
    description = {
            "Enrol a principal (docs/protocol.md §5): the HSM derives its credential Kp, " +
            "makes an ephemeral P-256 key pair, computes ECDH with the device's public key " +
            "and wraps Kp under a key derived from the shared secret; only the device's " +
            "private key opens it.",
            "The device generated its key pair and keeps the private key; the enrolment " +
            "package (message 0x05) is written to --out and the device opens it itself. " +
            "Nothing secret is written here. (Development provisioning, where the device key " +
            "pair is made here and a cleartext credential file written, is a demo tool: " +
            "kms demo enroll.)",
            "The role must agree with the mailbox directory (core.directoryFile): a mailbox " +
            "must be listed as one, a UE must not be."})
final class EnrollCommand implements Callable<Integer> {
  private final CliContext ctx;

  /** The command-line spelling of the roles. */
  enum CliRole {
    ue(Role.UE), mailbox(Role.MAILBOX);

    final Role role;

    CliRole(Role role) {
      this.role = role;
    }
  }

  @Spec
  CommandSpec spec;

  @Mixin
  ConfigOption config;

  @Parameters(index = "0", paramLabel = "ID",
      description = "the principal's identity, e.g. sip:alice@ims.example.com")
  String id;

  @Option(names = "--role", required = true, paramLabel = "ue|mailbox",
      description = "ue (a user's device) or mailbox (a mailbox server)")
  CliRole role;

  @Option(names = "--out", required = true, paramLabel = "FILE",
      description = "where to write the enrolment package (mode 0600)")
  Path out;

  @Option(names = "--device-public-key", required = true, paramLabel = "FILE",
      description = "the device's P-256 public key: PEM or DER SubjectPublicKeyInfo"
          + " (openssl ec -pubout), or the raw 65-byte uncompressed point")
  Path devicePublicKey;

  @Option(names = "--force", description = "replace an existing --out file")
  boolean force;

  EnrollCommand(CliContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public Integer call() throws Exception {
    String principal;
    try {
      principal = Identity.normalise(id);
    } catch (ProtocolException e) {
      throw new ParameterException(spec.commandLine(), "ID is not a SIP, SIPS or tel identity"
          + " in normal form (docs/protocol.md §2)");
    }
    if (Files.exists(out) && !force) {
      throw new CliException(ExitCodes.FAILURE, out + " exists; pass --force to replace it");
    }
    byte[] devicePoint = DevicePublicKeys.read(devicePublicKey);
    ApiConfig cfg = config.load(ctx);
    byte[] pkg = EnrolmentStation.enrol(cfg, ctx,
        new EnrolmentRequest(role.role, principal, devicePoint).encode());
    OwnerOnlyFiles.write(out, pkg);
    ctx.out().println("enrolled " + principal + " as " + role + ": enrolment package ("
        + pkg.length + " bytes) written to " + out + "; the device opens it with its"
        + " private key");
    ctx.out().flush();
    return ExitCodes.OK;
  }
}
