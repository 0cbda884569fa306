package io.imskms.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.cli.ExitCodes;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo tools' command line ({@code kms demo ...}) without a KMS or a token. */
class DemoCliTest {
  private static final Map<String, String> NO_ENV = Map.of();

  @Test
  void demoAndEnroll_haveHelp_listingTheExitCodes() {
    for (List<String> command : List.of(List.of("--help"), List.of("enroll", "--help"))) {
      CliRun r = CliRun.demo(NO_ENV, command.toArray(String[]::new));
      assertEquals(ExitCodes.OK, r.exitCode(), command + ": " + r);
      assertTrue(r.out().startsWith("Usage: demo"), command + ": " + r);
      assertTrue(r.out().contains("Exit codes:") && r.out().contains("64   usage error"),
          command + ": " + r);
    }
  }

  @Test
  void demo_withoutCredentials_isPrerequisiteMissing_andNamesUp(@TempDir Path dir) {
    CliRun r = CliRun.demo(NO_ENV, "--tls-dir", dir.toString(), "--credentials",
        dir.toString());
    assertEquals(ExitCodes.PREREQUISITE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("bin/kms up"), r.toString());
  }

  @Test
  void demo_withAnAbsurdLength_orAMissingValue_isUsageError() {
    assertEquals(ExitCodes.USAGE, CliRun.demo(NO_ENV, "--seconds", "1000").exitCode());
    assertEquals(ExitCodes.USAGE, CliRun.demo(NO_ENV, "--server").exitCode());
  }

  @Test
  void devEnroll_withoutRoleOrOut_orWithAnIdentityNotInNormalForm_isUsageError(
      @TempDir Path dir) {
    CliRun r = CliRun.demo(NO_ENV, "enroll", "sip:alice@ims.example.com");
    assertEquals(ExitCodes.USAGE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("--role") && r.err().contains("--out"), r.toString());
    assertEquals(ExitCodes.USAGE, CliRun.demo(NO_ENV, "enroll", "alice with spaces", "--role",
        "ue", "--out", dir.resolve("x.cred").toString()).exitCode());
  }
}
