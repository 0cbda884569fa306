package io.imskms.demo;

import io.imskms.api.config.ApiConfig;
import io.imskms.cli.CliContext;
import io.imskms.cli.CliException;
import io.imskms.cli.ConfigOption;
import io.imskms.cli.EnrolmentOptions;
import io.imskms.cli.EnrolmentStation;
import io.imskms.cli.ExitCodes;
import io.imskms.client.CleartextCredentialFile;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

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

  @Mixin
  ConfigOption config;

  @Mixin
  EnrolmentOptions enrolment;

  DevEnrollCommand(CliContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public Integer call() throws Exception {
    String principal = enrolment.principal();
    ApiConfig cfg = config.load(ctx);
    DeviceEnrolment device = new DeviceEnrolment(enrolment.role(), principal);
    Credential cred = device.open(EnrolmentStation.enrol(cfg, ctx, device.requestBytes()));
    try {
      CleartextCredentialFile.write(cred, enrolment.out(), enrolment.force());
    } catch (IOException e) {
      throw new CliException(ExitCodes.FAILURE, "cannot write " + enrolment.out() + ": "
          + e.getMessage());
    }
    ctx.out().println("enrolled " + principal + " as " + enrolment.role() + " (credential"
        + " version " + cred.credVersion() + "): device key pair generated here (development"
        + " provisioning), credential file written to " + enrolment.out() + " (mode 0600)");
    ctx.out().flush();
    return ExitCodes.OK;
  }
}
