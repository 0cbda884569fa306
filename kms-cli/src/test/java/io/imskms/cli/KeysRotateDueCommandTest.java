package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code kms keys list}'s next rotation by age and {@code kms keys rotate --due} on a real
 * SoftHSM2 token with {@code core.rotationDays.mediaRoot: 30} (the rotation itself when due is
 * pinned by kms-core's {@code KeyRotationByAgeTest}, which can use a maximum age of a second).
 */
class KeysRotateDueCommandTest {
  private static CliWorkspace ws;
  private static Path work;

  @BeforeAll
  static void setUp() throws Exception {
    ws = CliWorkspace.create("due-", w -> "core:\n  keyManifest: " + w.resolve("keys.json")
        + "\n  rotationDays:\n    mediaRoot: 30\n"
        + "audit:\n  dir: " + w.resolve("audit") + "\n");
    work = ws.work;
    CliRun init = run("token", "init");
    assertEquals(ExitCodes.OK, init.exitCode(), init.toString());
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (ws != null) {
      ws.close();
    }
  }

  private static CliRun run(String... args) {
    return ws.run(args);
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
