package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.files.OwnerOnlyFiles;
import io.imskms.protocol.EnrolmentRequest;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

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

  @Mixin
  ConfigOption config;

  @Mixin
  EnrolmentOptions enrolment;

  @Option(names = "--device-public-key", required = true, paramLabel = "FILE",
      description = "the device's P-256 public key: PEM or DER SubjectPublicKeyInfo"
          + " (openssl ec -pubout), or the raw 65-byte uncompressed point")
  Path devicePublicKey;

  @Option(names = "--replace",
      description = "re-enrolment: ID had a credential before (lost, stolen, replaced device)."
          + " Moves ID to its next credential generation and lifts any revocation; the new"
          + " package is the only credential accepted from then on, every earlier one (and its"
          + " B-TIDs) is refused with PRINCIPAL_REVOKED on every node within"
          + " core.keyPollSeconds. Without it, ID gets its current credential again (the same Kp)"
          + " and a revoked ID is refused.")
  boolean replace;

  EnrollCommand(CliContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public Integer call() throws Exception {
    String principal = enrolment.principal();
    byte[] devicePoint = DevicePublicKeys.read(devicePublicKey);
    ApiConfig cfg = config.load(ctx);
    byte[] pkg = EnrolmentStation.enrol(cfg, ctx,
        new EnrolmentRequest(enrolment.role(), principal, devicePoint).encode(), replace);
    OwnerOnlyFiles.write(enrolment.out(), pkg);
    ctx.out().println("enrolled " + principal + " as " + enrolment.role + ": enrolment package ("
        + pkg.length + " bytes) written to " + enrolment.out() + "; the device opens it with its"
        + " private key");
    ctx.out().flush();
    return ExitCodes.OK;
  }
}
