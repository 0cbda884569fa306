package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line itself: help, exit codes and usage errors, without a token. */
class KmsCliTest {
  private static final Map<String, String> NO_ENV = Map.of();

  private static List<List<String>> everyCommand() {
    return List.of(List.of(), List.of("serve"), List.of("config"), List.of("config", "check"),
        List.of("token"), List.of("token", "init"), List.of("keys"), List.of("keys", "list"),
        List.of("enroll"), List.of("tls"), List.of("tls", "keygen"), List.of("tls", "csr"),
        List.of("tls", "import-cert"), List.of("selftest"), List.of("audit", "key"),
        List.of("audit", "pseudonym"));
  }

  @Test
  void everyCommand_hasHelp_listingTheExitCodes() {
    for (List<String> command : everyCommand()) {
      String[] args = new String[command.size() + 1];
      command.toArray(args);
      args[command.size()] = "--help";
      CliRun r = CliRun.run(NO_ENV, args);
      assertEquals(ExitCodes.OK, r.exitCode(), command + ": " + r);
      assertTrue(r.out().startsWith("Usage: kms"), command + ": " + r);
      assertTrue(r.out().contains("Exit codes:") && r.out().contains("64   usage error")
          && r.out().contains("3   HSM unavailable"), command + ": " + r);
    }
  }

  @Test
  void everyCommandAndSubcommand_isCovered() {
    CommandLine cl = KmsCli.commandLine(new CliContext(NO_ENV, new java.io.PrintWriter(
        java.io.Writer.nullWriter()), new java.io.PrintWriter(java.io.Writer.nullWriter()),
        StopSignal.when(new java.util.concurrent.CompletableFuture<>())));
    assertEquals(List.of("serve", "config", "token", "keys", "devices", "enroll", "tls", "selftest",
        "audit"),
        List.copyOf(cl.getSubcommands().keySet()));
  }

  @Test
  void noCommand_orGroupWithoutSubcommand_isUsageError() {
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV).exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "token").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "keys").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "devices").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "config").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "tls").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "audit").exitCode());
    assertEquals(64, CliRun.run(NO_ENV, "audit", "verify").exitCode(), "no key, no directory");
  }

  @Test
  void unknownCommandOrOption_isUsageError() {
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "frobnicate").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "serve", "--bogus").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "enroll", "--bogus").exitCode());
  }

  @Test
  void enroll_withoutRoleOrOut_orWithABadRole_isUsageError() {
    CliRun r = CliRun.run(NO_ENV, "enroll", "sip:alice@ims.example.com");
    assertEquals(ExitCodes.USAGE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("--role") && r.err().contains("--out")
        && r.err().contains("--device-public-key"), r.toString());
    assertEquals(ExitCodes.USAGE, CliRun.run(NO_ENV, "enroll", "sip:a@b", "--role", "admin",
        "--out", "x").exitCode());
  }

  @Test
  void enroll_withAnIdentityNotInNormalForm_isUsageError(@TempDir Path dir) {
    CliRun r = CliRun.run(NO_ENV, "enroll", "alice with spaces", "--role", "ue", "--out",
        dir.resolve("x.cred").toString(), "--device-public-key", dir.resolve("d.pem").toString());
    assertEquals(ExitCodes.USAGE, r.exitCode(), r.toString());
  }

  @Test
  void missingConfigFile_isPrerequisiteMissing(@TempDir Path dir) {
    CliRun r = CliRun.run(NO_ENV, "keys", "list", "--config", dir.resolve("nope.yaml").toString());
    assertEquals(ExitCodes.PREREQUISITE, r.exitCode(), r.toString());
  }

  @Test
  void missingPkcs11Library_isPrerequisiteMissing() {
    CliRun r = CliRun.run(Map.of("KMS_HSM_MODULE", "/nonexistent/libsofthsm2.so"), "keys",
        "list");
    assertEquals(ExitCodes.PREREQUISITE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("PKCS#11 library not found"), r.toString());
  }
}
