package io.imskms.cli;

import io.imskms.api.config.ConfigException;
import io.imskms.core.KmsException;
import io.imskms.core.directory.MailboxDirectoryException;
import io.imskms.hsm.HsmException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code kms} command line (docs/cli.md). Every command has {@code --help}; exit codes are
 * those of {@link ExitCodes}. {@code bin/kms} runs this class with the repository root as working
 * directory and {@code SOFTHSM2_CONF} pointing at the dev token.
 */
@Command(name = "kms", mixinStandardHelpOptions = true,
    description = "Operate the IMS media-security KMS (TR 33.828 §7.4.3.3, deferred delivery).",
    subcommands = {ServeCommand.class, ConfigCommand.class, TokenCommand.class, KeysCommand.class,
        DevicesCommand.class, EnrollCommand.class, TlsCommand.class, SelftestCommand.class,
        AuditCommand.class})
public final class KmsCli implements Callable<Integer> {
  static final String VERSION = "kms 0.1.0-SNAPSHOT";

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "name a command");
  }

  /** The exit codes as every command's help lists them. */
  static final Map<String, String> EXIT_CODES = exitCodes();

  private static Map<String, String> exitCodes() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put(" " + ExitCodes.OK, "ok");
    m.put(" " + ExitCodes.FAILURE, "failure (a check failed, a request was refused, I/O error)");
    m.put(" " + ExitCodes.PREREQUISITE, "prerequisite missing (PKCS#11 library, SOFTHSM2_CONF,"
        + " PIN, configuration, vectors, credentials, running KMS)");
    m.put(" " + ExitCodes.HSM_UNAVAILABLE, "HSM unavailable (token not found, log-in refused,"
        + " unreachable, long-term keys missing)");
    m.put(String.valueOf(ExitCodes.USAGE), "usage error");
    return m;
  }

  /** The command line wired to {@code ctx}: exit codes, handlers and help sections. */
  static CommandLine commandLine(CliContext ctx) {
    return commandLine(new KmsCli(), ctx);
  }

  /**
   * Any command tree (the server's {@code kms}, or the demo tools' {@code kms demo}) wired to
   * {@code ctx} the same way: commands constructed with the context, the CLI's exit codes, one
   * error line per failure, help sections listing the exit codes.
   */
  public static CommandLine commandLine(Object root, CliContext ctx) {
    CommandLine cl = new CommandLine(root, new CommandLine.IFactory() {
      @Override
      public <K> K create(Class<K> cls) throws Exception {
        try {
          java.lang.reflect.Constructor<K> c = cls.getDeclaredConstructor(CliContext.class);
          // Commands keep package-private constructors, also in the demo tools' package.
          c.setAccessible(true);
          return c.newInstance(ctx);
        } catch (NoSuchMethodException e) {
          return CommandLine.defaultFactory().create(cls);
        }
      }
    });
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setOut(ctx.out());
    cl.setErr(ctx.err());
    cl.setParameterExceptionHandler((ex, args) -> {
      PrintWriter err = ex.getCommandLine().getErr();
      err.println("kms: " + ex.getMessage());
      err.println("Try '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
      err.flush();
      return ExitCodes.USAGE;
    });
    cl.setExecutionExceptionHandler((ex, command, parsed) -> {
      PrintWriter err = command.getErr();
      int code = exitCodeOf(ex);
      err.println("kms: error: " + messageOf(ex));
      err.flush();
      return code;
    });
    decorate(cl);
    return cl;
  }

  private static void decorate(CommandLine cl) {
    cl.getCommandSpec().version(VERSION);
    cl.getCommandSpec().usageMessage().exitCodeListHeading("%nExit codes:%n")
        .exitCodeList(EXIT_CODES);
    cl.getCommandSpec().exitCodeOnInvalidInput(ExitCodes.USAGE);
    cl.getCommandSpec().exitCodeOnExecutionException(ExitCodes.FAILURE);
    for (CommandLine sub : cl.getSubcommands().values()) {
      decorate(sub);
    }
  }

  static int exitCodeOf(Throwable ex) {
    if (ex instanceof CliException c) {
      return c.exitCode();
    }
    if (ex instanceof ConfigException || ex instanceof MailboxDirectoryException) {
      return ExitCodes.PREREQUISITE;
    }
    if (ex instanceof HsmException h) {
      return h.kind() == HsmException.Kind.UNAVAILABLE
          || h.kind() == HsmException.Kind.MISCONFIGURATION
          || h.kind() == HsmException.Kind.KEY_NOT_FOUND
          ? ExitCodes.HSM_UNAVAILABLE : ExitCodes.FAILURE;
    }
    return ExitCodes.FAILURE;
  }

  private static String messageOf(Throwable ex) {
    if (ex instanceof CliException || ex instanceof HsmException
        || ex instanceof ConfigException || ex instanceof MailboxDirectoryException) {
      return ex.getMessage();
    }
    if (ex instanceof KmsException k) {
      return "refused by the KMS: " + k.code() + (k.getMessage() == null ? ""
          : " (" + k.getMessage() + ")");
    }
    return ex.getClass().getSimpleName() + (ex.getMessage() == null ? "" : ": "
        + ex.getMessage());
  }

  /** Runs one command line; returns its exit code. */
  public static int run(CliContext ctx, String... args) {
    return commandLine(ctx).execute(args);
  }

  public static void main(String[] args) {
    // Every command but `serve` talks to a person: plain WARN lines on stderr instead of the
    // server's JSON log on stdout.
    boolean serve = args.length > 0 && "serve".equals(args[0]);
    System.exit(runProcess(args, !serve, ctx -> KmsCli.run(ctx, args)));
  }

  /**
   * Runs a command line in this process: the process's environment, stdout/stderr, and the JVM's
   * stop signals; {@code humanLog} switches the log from JSON lines to plain WARN lines.
   */
  public static int runProcess(String[] args, boolean humanLog,
      java.util.function.ToIntFunction<CliContext> command) {
    if (humanLog) {
      System.setProperty("logback.configurationFile", "io/imskms/cli/logback-cli.xml");
    }
    PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
    PrintWriter err = new PrintWriter(System.err, true, StandardCharsets.UTF_8);
    int code = command.applyAsInt(new CliContext(System.getenv(), out, err,
        StopSignal.jvmSignals()));
    out.flush();
    err.flush();
    return code;
  }
}
