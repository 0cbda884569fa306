package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code kms keys list | rotate | state} against a real SoftHSM2 token set up by
 * {@code kms token init}; the steps build on each other.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KeysCommandTest {
  private static CliWorkspace ws;
  private static Path work;

  @BeforeAll
  static void setUp() throws Exception {
    ws = CliWorkspace.create("keys-", w -> "core:\n  keyManifest: " + w.resolve("keys.json")
        + "\n  keyPollSeconds: 1\n  keyStagingSeconds: 8\n"
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

  /** The row of {@code label} version {@code v} in {@code keys list}, split on blanks. */
  private static String[] row(String label, int v) {
    CliRun r = run("keys", "list");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    for (String line : r.out().split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f[0].equals(label) && f[1].equals(Integer.toString(v))) {
        return f;
      }
    }
    throw new AssertionError("no row for " + label + " v" + v + ":\n" + r.out());
  }

  @Test
  @Order(1)
  void list_showsVersionStateKcvAndTimes_oneActivePerPurpose() {
    CliRun r = run("keys", "list");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertTrue(r.out().startsWith("LABEL"), r.out());
    assertTrue(r.out().contains("KCV") && r.out().contains("ACTIVATED")
        && r.out().contains("RETIRED"), r.out());
    for (String label : new String[] {"kms-cred-root", "kms-btid-mac", "kms-ticket-root",
        "kms-media-root"}) {
      String[] f = row(label, 1);
      assertEquals("active", f[3]);
      assertTrue(f[4].matches("[0-9a-f]{16}"), String.join(" ", f));
      assertTrue(f[5].matches("\\d{4}-\\d\\d-\\d\\dT.*Z"), String.join(" ", f));
    }
  }

  @Test
  @Order(2)
  void rotate_stagesTheNewVersion_updatesTheManifest_andRefusesASecondStagedRotation()
      throws Exception {
    CliRun r = run("keys", "rotate", "TICKET_ROOT");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    // At once, well inside the staging delay even on a loaded machine.
    CliRun again = run("keys", "rotate", "kms-ticket-root");
    assertEquals(ExitCodes.FAILURE, again.exitCode(), again.toString());
    assertTrue(again.err().contains("already staged"), again.toString());
    String[] f = row("kms-ticket-root", 2);
    assertEquals("TICKET_ROOT", f[2]);
    assertEquals("decrypt-only", f[3]);
    assertEquals("active", row("kms-ticket-root", 1)[3]);
    assertTrue(r.err().contains("becomes active at"), r.toString());
    String manifest = Files.readString(work.resolve("keys.json"));
    assertTrue(manifest.contains("\"kcv\" : \"" + f[4] + "\""), manifest);
  }

  @Test
  @Order(3)
  void stagedVersion_becomesActive_thenTheOldOneCanBeRetired_andRetirementIsFinal()
      throws Exception {
    long until = System.nanoTime() + 30_000_000_000L;
    while (!row("kms-ticket-root", 2)[3].equals("active") && System.nanoTime() < until) {
      Thread.sleep(500);
    }
    assertEquals("active", row("kms-ticket-root", 2)[3],
        "not active 30 s after rotating (staging 8 s)");
    assertEquals("decrypt-only", row("kms-ticket-root", 1)[3]);

    CliRun active = run("keys", "state", "TICKET_ROOT", "2", "retired");
    assertEquals(ExitCodes.FAILURE, active.exitCode(), active.toString());
    assertTrue(active.err().contains("active version"), active.toString());

    CliRun retire = run("keys", "state", "TICKET_ROOT", "1", "retired");
    assertEquals(ExitCodes.OK, retire.exitCode(), retire.toString());
    String[] f = row("kms-ticket-root", 1);
    assertEquals("retired", f[3]);
    assertTrue(f[7].matches("\\d{4}-\\d\\d-\\d\\dT.*Z"), String.join(" ", f));

    CliRun back = run("keys", "state", "TICKET_ROOT", "1", "active");
    assertEquals(ExitCodes.FAILURE, back.exitCode(), back.toString());
    assertTrue(back.err().contains("final"), back.toString());
  }

  @Test
  @Order(4)
  void usageErrors_areExit64() {
    assertEquals(ExitCodes.USAGE, run("keys", "rotate", "NO_SUCH").exitCode());
    assertEquals(ExitCodes.USAGE, run("keys", "state", "MEDIA_ROOT", "1", "paused").exitCode());
    assertEquals(ExitCodes.USAGE, run("keys", "state", "MEDIA_ROOT", "0", "retired").exitCode());
    CliRun unknown = run("keys", "state", "MEDIA_ROOT", "77", "retired");
    assertEquals(ExitCodes.FAILURE, unknown.exitCode(), unknown.toString());
  }
}
