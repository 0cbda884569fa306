package io.imskms.cli;

import io.imskms.hsm.SoftHsmTestToken;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * This test JVM's SoftHSM2 token, a throw-away work folder with a {@code kms.yaml}, and
 * in-process {@code kms} runs against both (the token's module, label and PIN passed as the
 * {@code KMS_HSM_*} environment, {@code --config} appended).
 */
final class CliWorkspace implements AutoCloseable {
  final SoftHsmTestToken token;
  final Path work;
  final Path config;

  private CliWorkspace(SoftHsmTestToken token, Path work, Path config) {
    this.token = token;
    this.work = work;
    this.config = config;
  }

  /** A new token and folder {@code prefix*}, with {@code yaml.apply(folder)} as kms.yaml. */
  static CliWorkspace create(String prefix, Function<Path, String> yaml) throws IOException {
    SoftHsmTestToken token = SoftHsmTestToken.create();
    Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), prefix);
    Path config = work.resolve("kms.yaml");
    Files.writeString(config, yaml.apply(work));
    return new CliWorkspace(token, work, config);
  }

  /** The environment a run gets: the token's conf file, module, label and user PIN. */
  Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTHSM2_CONF", token.confFile().toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    return env;
  }

  /** {@code kms ARGS --config kms.yaml}, in process. */
  CliRun run(String... args) {
    String[] all = new String[args.length + 2];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--config";
    all[args.length + 1] = config.toString();
    return CliRun.run(env(), all);
  }

  @Override
  public void close() throws IOException {
    token.close();
    try (Stream<Path> walk = Files.walk(work)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
