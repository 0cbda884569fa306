package io.imskms.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** One in-process run of the command line, with what it printed. */
record CliRun(int exitCode, String out, String err) {
  static CliRun run(Map<String, String> env, String... args) {
    return run(env, StopSignal.when(new CompletableFuture<>()), args);
  }

  static CliRun run(Map<String, String> env, StopSignal stop, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = KmsCli.run(new CliContext(env, new PrintWriter(out, true),
        new PrintWriter(err, true), stop), args);
    return new CliRun(code, out.toString(), err.toString());
  }

  @Override
  public String toString() {
    return "exit " + exitCode + "\n--- out\n" + out + "--- err\n" + err;
  }
}
