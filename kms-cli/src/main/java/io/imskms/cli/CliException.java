package io.imskms.cli;

/** Ends a command with an exit code from {@link ExitCodes} and one line for the operator. */
final class CliException extends Exception {
  private final int exitCode;

  CliException(int exitCode, String message) {
    super(message);
    this.exitCode = exitCode;
  }

  CliException(int exitCode, String message, Throwable cause) {
    super(message, cause);
    this.exitCode = exitCode;
  }

  int exitCode() {
    return exitCode;
  }
}
