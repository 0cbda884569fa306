package io.imskms.cli;

import java.io.PrintWriter;
import java.util.Map;
import java.util.Objects;

/**
 * What a command may use from its process: the environment (for {@code KMS_*} overrides and the
 * PIN), standard output and error, and the stop signal of {@code serve}. Tests pass their own.
 * Relative paths, in options and in the configuration, are relative to the working directory.
 */
public record CliContext(Map<String, String> env, PrintWriter out, PrintWriter err,
    StopSignal stopSignal) {
  public CliContext {
    env = Map.copyOf(env);
    Objects.requireNonNull(out, "out");
    Objects.requireNonNull(err, "err");
    Objects.requireNonNull(stopSignal, "stopSignal");
  }

  /** One progress or status line on standard error (standard output carries the results). */
  public void progress(String line) {
    err.println("kms: " + line);
    err.flush();
  }
}
