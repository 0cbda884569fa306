package io.imskms.demo;

import io.imskms.cli.CliContext;
import io.imskms.cli.KmsCli;
import io.imskms.cli.StopSignal;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.ToIntFunction;

/**
 * One in-process run of a command line, with what it printed: the server's {@code kms ...}
 * ({@link #run}) or the demo tools' {@code kms demo ...} ({@link #demo}, arguments after
 * {@code demo}).
 */
record CliRun(int exitCode, String out, String err) {
  static CliRun run(Map<String, String> env, String... args) {
    return run(env, StopSignal.when(new CompletableFuture<>()), args);
  }

  static CliRun run(Map<String, String> env, StopSignal stop, String... args) {
    return capture(env, stop, ctx -> KmsCli.run(ctx, args));
  }

  static CliRun demo(Map<String, String> env, String... args) {
    return capture(env, StopSignal.when(new CompletableFuture<>()),
        ctx -> KmsCli.commandLine(new DemoCommand(ctx), ctx).execute(args));
  }

  private static CliRun capture(Map<String, String> env, StopSignal stop,
      ToIntFunction<CliContext> command) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = command.applyAsInt(new CliContext(env, new PrintWriter(out, true),
        new PrintWriter(err, true), stop));
    return new CliRun(code, out.toString(), err.toString());
  }

  @Override
  public String toString() {
    return "exit " + exitCode + "\n--- out\n" + out + "--- err\n" + err;
  }
}
