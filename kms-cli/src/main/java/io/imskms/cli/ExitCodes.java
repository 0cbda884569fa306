package io.imskms.cli;

/** The exit codes of every {@code kms} command (docs/cli.md). */
public final class ExitCodes {
  /** Done. */
  public static final int OK = 0;
  /** The command ran and failed (a check did not pass, a request was refused, an I/O error). */
  public static final int FAILURE = 1;
  /**
   * Something the command needs is missing: the PKCS#11 library, SOFTHSM2_CONF, the PIN, the
   * configuration or a file it names, the test vectors, the demo's credentials, a running KMS.
   */
  public static final int PREREQUISITE = 2;
  /** The HSM cannot be used: token not found, log-in refused, token unreachable, keys missing. */
  public static final int HSM_UNAVAILABLE = 3;
  /** The command line is wrong (unknown option, missing or invalid argument). */
  public static final int USAGE = 64;

  private ExitCodes() {}
}
