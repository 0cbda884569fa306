package io.imskms.demo;

import io.imskms.api.config.ApiConfig;
import io.imskms.cli.CliContext;
import io.imskms.cli.CliException;
import io.imskms.cli.ConfigOption;
import io.imskms.cli.EnrolmentStation;
import io.imskms.cli.ExitCodes;
import io.imskms.client.CleartextCredentialFile;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code kms demo enroll}: development provisioning of a demo principal. This process plays the
 * device's provisioning station: it makes the device key pair in software (client SDK), runs the
 * HSM enrolment of the configured token ({@link EnrolmentStation}, the same as {@code kms enroll}),
 * opens the package with the device key and writes the device's credential file with Kp in the
 * clear (mode 0600). For demos and tests only: a real device keeps its private key and opens the
 * package itself ({@code kms enroll --device-public-key}).
 */
@Command(name = "enroll", mixinStandardHelpOptions = true,
    description = {
            "Development provisioning (demo principals only): generate the device key pair " +
            "here in software, enrol it through the HSM exactly as kms enroll does, open the " +
            "package with the device key and write the device's credential file (mode 0600; " +
            "Kp in the clear, for the demo clients). Production devices generate their own " +
            "key pair and use kms enroll --device-public-key.",
            "The role must agree with the mailbox directory (core.directoryFile): a mailbox " +
            "must be listed as one, a UE must not be."})
final class DevEnrollCommand implements Callable<Integer> {
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
      description = "where to write the credential file (mode 0600)")
  Path out;

  @Option(names = "--force", description = "replace an existing --out file")
  boolean force;

  DevEnrollCommand(CliContext ctx) {
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
    ApiConfig cfg = config.load(ctx);
    DeviceEnrolment device = new DeviceEnrolment(role.role, principal);
    Credential cred = device.open(EnrolmentStation.enrol(cfg, ctx, device.requestBytes()));
    try {
      CleartextCredentialFile.write(cred, out, force);
    } catch (IOException e) {
      throw new CliException(ExitCodes.FAILURE, "cannot write " + out + ": " + e.getMessage());
    }
    ctx.out().println("enrolled " + principal + " as " + role + " (credential version "
        + cred.credVersion() + "): device key pair generated here (development provisioning),"
        + " credential file written to " + out + " (mode 0600)");
    ctx.out().flush();
    return ExitCodes.OK;
  }
}
