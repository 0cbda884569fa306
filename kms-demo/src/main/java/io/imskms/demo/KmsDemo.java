package io.imskms.demo;

import io.imskms.cli.KmsCli;

/**
 * Entry point of the demo tools ({@code kms demo ...}): the seed end to end against a running KMS
 * and development provisioning of demo principals. The launcher runs this class with the server's
 * jars plus {@code lib/demo/} (client SDK, reference mailbox, this module), so that the server's
 * own class path never holds client code.
 */
public final class KmsDemo {
  private KmsDemo() {}

  public static void main(String[] args) {
    System.exit(KmsCli.runProcess(args, true,
        ctx -> KmsCli.commandLine(new DemoCommand(ctx), ctx).execute(args)));
  }
}
