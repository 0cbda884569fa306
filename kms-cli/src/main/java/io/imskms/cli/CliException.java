package io.imskms.cli;

/** Ends a command with an exit code from {@link ExitCodes} and one line for the operator. */
public final class CliException extends Exception {
  private final int exitCode;

  public CliException(int exitCode, String message) {
    super(message);
    this.exitCode = exitCode;
  }

  public CliException(int exitCode, String message, Throwable cause) {
    super(message, cause);
    this.exitCode = exitCode;
  }

  public int exitCode() {
    return exitCode;
  }
}
