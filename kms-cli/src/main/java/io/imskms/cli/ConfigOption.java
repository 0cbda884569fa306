package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.ConfigLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --config FILE}: the server's YAML configuration, shared by every command. */
public final class ConfigOption {
  /** Used when {@code --config} is not given and this file exists in the working directory. */
  static final Path DEFAULT_FILE = Path.of("config/kms.yaml");

  /** The configuration file when {@code --config} is not given (the installed launcher's). */
  public static final String CONFIG_ENV = "KMS_CONFIG";

  @Option(names = "--config", paramLabel = "FILE",
      description = "YAML configuration (docs/configuration.md); default: $KMS_CONFIG when set,"
          + " else config/kms.yaml if it exists, else the built-in defaults. KMS_* variables"
          + " override it.")
  Path file;

  /** The configuration: defaults, the file, then the {@code KMS_*} variables of {@code env}. */
  public ApiConfig load(CliContext ctx) throws CliException {
    Path f = resolve(ctx);
    if (f != null && !Files.isRegularFile(f)) {
      throw new CliException(ExitCodes.PREREQUISITE, "configuration file not found: " + f);
    }
    try {
      return ConfigLoader.load(f, ctx.env());
    } catch (ConfigException e) {
      throw new CliException(ExitCodes.PREREQUISITE, e.getMessage());
    }
  }

  /** Which file {@link #load} reads, for messages. */
  public String describe(CliContext ctx) {
    Path f = resolve(ctx);
    return f == null ? "built-in defaults and KMS_* variables" : f + " and KMS_* variables";
  }

  private Path resolve(CliContext ctx) {
    Path f = file;
    String fromEnv = ctx.env().get(CONFIG_ENV);
    if (f == null && fromEnv != null && !fromEnv.isBlank()) {
      f = Path.of(fromEnv);
    }
    if (f == null && Files.isRegularFile(DEFAULT_FILE)) {
      f = DEFAULT_FILE;
    }
    return f;
  }
}
