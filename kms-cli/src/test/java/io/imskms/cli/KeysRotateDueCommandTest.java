package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.SoftHsmTestToken;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code kms keys list}'s next rotation by age and {@code kms keys rotate --due} on a real
 * SoftHSM2 token with {@code core.rotationDays.mediaRoot: 30} (the rotation itself when due is
 * pinned by kms-core's {@code KeyRotationByAgeTest}, which can use a maximum age of a second).
 */
class KeysRotateDueCommandTest {
  private static SoftHsmTestToken token;
  private static Path work;
  private static Path config;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "due-");
    config = work.resolve("kms.yaml");
    Files.writeString(config, "core:\n  keyManifest: " + work.resolve("keys.json")
        + "\n  rotationDays:\n    mediaRoot: 30\n"
        + "audit:\n  dir: " + work.resolve("audit") + "\n");
    CliRun init = run("token", "init");
    assertEquals(ExitCodes.OK, init.exitCode(), init.toString());
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (token != null) {
      token.close();
    }
    if (work != null) {
      try (Stream<Path> walk = Files.walk(work)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static CliRun run(String... args) {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTHSM2_CONF", token.confFile().toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    String[] all = new String[args.length + 2];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--config";
    all[args.length + 1] = config.toString();
    return CliRun.run(env, all);
  }

  @Test
  void list_showsTheNextRotationByAge_andRotateDue_rotatesNothingBeforeIt() {
    CliRun list = run("keys", "list");
    assertEquals(ExitCodes.OK, list.exitCode(), list.toString());
    assertTrue(list.out().contains("NEXT-ROTATION"), list.out());
    for (String line : list.out().split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f[0].equals("kms-media-root")) {
        Instant created = Instant.parse(f[5]);
        assertEquals(created.plus(Duration.ofDays(30)), Instant.parse(f[8]), line);
      } else if (f[0].startsWith("kms-")) {
        assertEquals("-", f[8], "no maximum age configured: " + line);
      }
    }
    CliRun due = run("keys", "rotate", "--due");
    assertEquals(ExitCodes.OK, due.exitCode(), due.toString());
    assertTrue(due.out().contains("MEDIA_ROOT: not due"), due.toString());
    assertEquals(1, run("keys", "list").out().lines()
        .filter(l -> l.startsWith("kms-media-root")).count(), "nothing rotated");
  }

  @Test
  void rotate_needsExactlyOneOfPurposeAndDue() {
    assertEquals(ExitCodes.USAGE, run("keys", "rotate").exitCode());
    assertEquals(ExitCodes.USAGE, run("keys", "rotate", "MEDIA_ROOT", "--due").exitCode());
    CliRun help = CliRun.run(Map.of(), "keys", "rotate", "--help");
    assertEquals(ExitCodes.OK, help.exitCode());
    assertTrue(help.out().contains("--due"), help.out());
  }
}
