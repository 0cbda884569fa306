package io.imskms.cli;

import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The arguments every enrolment command takes ({@code kms enroll}, {@code kms demo enroll}): the
 * principal, its role, the output file and {@code --force}, checked the same way.
 */
public final class EnrolmentOptions {
  /** The command-line spelling of the roles. */
  public enum CliRole {
    ue(Role.UE), mailbox(Role.MAILBOX);

    final Role role;

    CliRole(Role role) {
      this.role = role;
    }
  }

  @Spec(Spec.Target.MIXEE)
  CommandSpec spec;

  @Parameters(index = "0", paramLabel = "ID",
      description = "the principal's identity, e.g. sip:alice@ims.example.com")
  String id;

  @Option(names = "--role", required = true, paramLabel = "ue|mailbox",
      description = "ue (a user's device) or mailbox (a mailbox server)")
  CliRole role;

  @Option(names = "--out", required = true, paramLabel = "FILE",
      description = "where to write the result (mode 0600)")
  Path out;

  @Option(names = "--force", description = "replace an existing --out file")
  boolean force;

  public Role role() {
    return role.role;
  }

  public Path out() {
    return out;
  }

  public boolean force() {
    return force;
  }

  /**
   * The identity in normal form; a usage error when it is not one, a failure when {@code --out}
   * exists without {@code --force}.
   */
  public String principal() throws CliException {
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
    return principal;
  }
}
