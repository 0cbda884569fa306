package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.ConfigLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --config FILE}: the server's YAML configuration, shared by every command. */
final class ConfigOption {
  /** Used when {@code --config} is not given and this file exists in the working directory. */
  static final Path DEFAULT_FILE = Path.of("config/kms.yaml");

  @Option(names = "--config", paramLabel = "FILE",
      description = "YAML configuration (docs/configuration.md); default: config/kms.yaml if it"
          + " exists, else the built-in defaults. KMS_* variables override it.")
  Path file;

  /** The configuration: defaults, the file, then the {@code KMS_*} variables of {@code env}. */
  ApiConfig load(CliContext ctx) throws CliException {
    Path f = file;
    if (f == null && Files.isRegularFile(DEFAULT_FILE)) {
      f = DEFAULT_FILE;
    }
    if (f != null && !Files.isRegularFile(f)) {
      throw new CliException(ExitCodes.PREREQUISITE, "configuration file not found: " + f);
    }
    try {
      return ConfigLoader.load(f, ctx.env());
    } catch (ConfigException e) {
      throw new CliException(ExitCodes.PREREQUISITE, e.getMessage());
    }
  }
}
