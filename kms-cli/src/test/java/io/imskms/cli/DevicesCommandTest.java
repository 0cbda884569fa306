package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.protocol.EnrolmentFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code kms devices revoke | list-revoked | reinstate} and {@code kms enroll --replace} against a
 * real SoftHSM2 token set up by {@code kms token init}; the steps build on each other.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DevicesCommandTest {
  private static final String ALICE = "sip:alice@ims.example.com";
  private static CliWorkspace ws;
  private static Path work;
  private static Path devicePub;

  @BeforeAll
  static void setUp() throws Exception {
    ws = CliWorkspace.create("devices-", w -> "core:\n  keyManifest: " + w.resolve("keys.json")
        + "\n  directoryFile: " + w.resolve("directory.json") + "\n"
        + "audit:\n  dir: " + w.resolve("audit") + "\n");
    Files.writeString(ws.work.resolve("directory.json"),
        "{\"version\":1,\"mailboxes\":{\"sip:vm.bob@ims.example.com\":"
        + "{\"users\":[\"sip:bob@ims.example.com\"]}}}", StandardCharsets.UTF_8);
    work = ws.work;
    CliRun init = run("token", "init");
    assertEquals(ExitCodes.OK, init.exitCode(), init.toString());
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    devicePub = work.resolve("device.der");
    Files.write(devicePub, g.generateKeyPair().getPublic().getEncoded());
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

  /** Every record of this host's CLI audit log, as text. */
  private static String cliAudit() throws Exception {
    StringBuilder b = new StringBuilder();
    try (Stream<Path> walk = Files.walk(work.resolve("audit"))) {
      for (Path p : walk.filter(Files::isRegularFile).toList()) {
        b.append(new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1));
      }
    }
    return b.toString();
  }

  private static EnrolmentFile enrol(boolean replace) throws Exception {
    Path out = work.resolve("alice.pkg");
    CliRun r = replace
        ? run("enroll", ALICE, "--role", "ue", "--device-public-key", devicePub.toString(),
            "--out", out.toString(), "--force", "--replace")
        : run("enroll", ALICE, "--role", "ue", "--device-public-key", devicePub.toString(),
            "--out", out.toString(), "--force");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    return EnrolmentFile.decode(Files.readAllBytes(out));
  }

  @Test
  @Order(1)
  void listRevoked_isOnlyTheHeader_andFirstEnrolmentIsGenerationZero() throws Exception {
    CliRun r = run("devices", "list-revoked");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertEquals(1, r.out().strip().split("\n").length, r.out());
    assertTrue(r.out().startsWith("ID"), r.out());
    assertEquals(0, enrol(false).generation());
  }

  @Test
  @Order(2)
  void revoke_isListed_withItsReason_andRecorded_andAgainChangesNothing() throws Exception {
    CliRun r = run("devices", "revoke", ALICE, "--reason", "phone reported stolen");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertTrue(r.out().contains("revoked " + ALICE), r.toString());
    CliRun list = run("devices", "list-revoked");
    assertEquals(ExitCodes.OK, list.exitCode(), list.toString());
    assertTrue(list.out().contains(ALICE) && list.out().contains("phone reported stolen"),
        list.out());
    CliRun again = run("devices", "revoke", ALICE);
    assertEquals(ExitCodes.OK, again.exitCode(), again.toString());
    assertTrue(again.out().contains("already revoked"), again.toString());
    assertTrue(cliAudit().contains("devices.revoke"), "no devices.revoke record");
    // A revoked principal is not enrolled again without --replace.
    CliRun refused = run("enroll", ALICE, "--role", "ue", "--device-public-key",
        devicePub.toString(), "--out", work.resolve("x.pkg").toString());
    assertEquals(ExitCodes.FAILURE, refused.exitCode(), refused.toString());
    assertTrue(refused.err().contains("PRINCIPAL_REVOKED"), refused.toString());
    assertFalse(Files.exists(work.resolve("x.pkg")));
  }

  @Test
  @Order(3)
  void reinstate_removesItFromTheList_andReinstatingAgainFails() throws Exception {
    CliRun r = run("devices", "reinstate", ALICE);
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertFalse(run("devices", "list-revoked").out().contains(ALICE));
    CliRun again = run("devices", "reinstate", ALICE);
    assertEquals(ExitCodes.FAILURE, again.exitCode(), again.toString());
    assertTrue(again.err().contains("not revoked"), again.toString());
    assertTrue(cliAudit().contains("devices.reinstate"), "no devices.reinstate record");
    assertEquals(0, enrol(false).generation(), "reinstated: the same credential generation");
  }

  @Test
  @Order(4)
  void enrollReplace_movesToTheNextGeneration_andLiftsARevocation() throws Exception {
    assertEquals(1, enrol(true).generation());
    assertEquals(1, enrol(false).generation(), "without --replace: the current generation");
    assertEquals(ExitCodes.OK, run("devices", "revoke", ALICE).exitCode());
    assertEquals(2, enrol(true).generation());
    assertFalse(run("devices", "list-revoked").out().contains(ALICE));
  }

  @Test
  @Order(5)
  void help_andUsageErrors() {
    for (String sub : new String[] {"revoke", "list-revoked", "reinstate"}) {
      CliRun h = CliRun.run(Map.of(), "devices", sub, "--help");
      assertEquals(ExitCodes.OK, h.exitCode(), h.toString());
      assertTrue(h.out().contains("Usage: kms devices " + sub), h.out());
    }
    assertEquals(ExitCodes.OK, CliRun.run(Map.of(), "devices", "--help").exitCode());
    assertEquals(ExitCodes.USAGE, run("devices").exitCode());
    assertEquals(ExitCodes.USAGE, run("devices", "revoke").exitCode());
    assertEquals(ExitCodes.USAGE, run("devices", "revoke", "alice").exitCode());
    assertEquals(ExitCodes.USAGE, run("devices", "reinstate", "mailto:a@b").exitCode());
    assertEquals(ExitCodes.USAGE, run("devices", "revoke", ALICE, "--reason", "").exitCode());
    assertEquals(ExitCodes.USAGE,
        run("devices", "revoke", ALICE, "--reason", "two\nlines").exitCode());
    assertEquals(ExitCodes.USAGE, run("devices", "list-revoked", "extra").exitCode());
  }
}
