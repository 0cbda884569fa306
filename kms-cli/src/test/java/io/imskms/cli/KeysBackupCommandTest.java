package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.imskms.hsm.SoftHsmTestToken;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code kms keys new-component | export | import} between two real SoftHSM2 tokens: the source
 * set up by {@code kms token init} with {@code core.keyBackup: true}, the target empty. The steps
 * build on each other.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KeysBackupCommandTest {
  private static final Pattern KCV_LINE = Pattern.compile("kcv ([0-9a-f]{16})");
  private static SoftHsmTestToken source;
  private static SoftHsmTestToken target;
  private static SoftHsmTestToken other;
  private static SoftHsmTestToken typed;
  private static Path work;
  private static final Map<String, String> componentKcvs = new HashMap<>();

  @BeforeAll
  static void setUp() throws Exception {
    source = SoftHsmTestToken.create();
    target = source.second();
    other = source.second();
    typed = source.second();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "backup-");
    for (String side : new String[] {"source", "target", "other", "typed"}) {
      Files.writeString(work.resolve(side + ".yaml"), "core:\n  keyManifest: "
          + work.resolve(side + "-keys.json") + "\n  keyBackup: " + side.equals("source")
          + "\naudit:\n  dir: " + work.resolve(side + "-audit") + "\n");
    }
    CliRun init = run(source, "source", "token", "init");
    assertEquals(ExitCodes.OK, init.exitCode(), init.toString());
    CliRun initOther = run(other, "other", "token", "init");
    assertEquals(ExitCodes.OK, initOther.exitCode(), initOther.toString());
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (source != null) {
      source.close();
    }
    if (work != null) {
      try (Stream<Path> walk = Files.walk(work)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static CliRun run(SoftHsmTestToken token, String side, String... args) {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTHSM2_CONF", token.confFile().toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    if (token != target && token != typed) {
      env.put("KMS_HSM_SO_PIN", new String(token.soPinForTest()));
    }
    String[] all = new String[args.length + 2];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--config";
    all[args.length + 1] = work.resolve(side + ".yaml").toString();
    return CliRun.run(env, all);
  }

  private static String component(String name) {
    return work.resolve(name).toString();
  }

  /** KCV by label#vN from {@code keys list}. */
  private static Map<String, String> kcvs(SoftHsmTestToken token, String side) {
    CliRun r = run(token, side, "keys", "list");
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    Map<String, String> m = new TreeMap<>();
    for (String line : r.out().split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length > 4 && f[0].startsWith("kms-")) {
        // purpose, state, kcv, created, activated, retired
        m.put(f[0] + "#v" + f[1], String.join(" ", List.of(f).subList(2, 8)));
      }
    }
    return m;
  }

  /** Every secret this test handled: component digits and wrapped keys. */
  private static List<String> secrets() throws Exception {
    List<String> s = new ArrayList<>();
    for (String c : new String[] {"c1", "c2", "c3"}) {
      if (!Files.exists(work.resolve(c))) {
        continue;
      }
      for (String line : Files.readAllLines(work.resolve(c))) {
        if (!line.startsWith("#") && !line.isBlank()) {
          // A whole line of the component, as written and without its spaces (32 hex digits):
          // one 4-digit group alone also occurs by chance in a KCV or a temporary path.
          s.add(line.strip());
          s.add(line.replace(" ", ""));
        }
      }
    }
    Path backup = work.resolve("keys.backup");
    if (Files.exists(backup)) {
      Matcher m = Pattern.compile("\"wrapped\" : \"([^\"]+)\"").matcher(Files.readString(backup));
      while (m.find()) {
        s.add(m.group(1));
        assertEquals(40, Base64.getDecoder().decode(m.group(1)).length);
      }
    }
    return s;
  }

  private static void assertNothingSecret(CliRun r) throws Exception {
    for (String secret : secrets()) {
      assertFalse(r.out().contains(secret) || r.err().contains(secret), r.toString());
    }
  }

  @Test
  @Order(1)
  void newComponent_writesA0600File_andPrintsOnlyItsKcv() throws Exception {
    for (String c : new String[] {"c1", "c2", "c3"}) {
      CliRun r = CliRun.run(Map.of(), "keys", "new-component", "--out", component(c));
      assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
      Matcher m = KCV_LINE.matcher(r.out());
      assertTrue(m.find(), r.out());
      componentKcvs.put(c, m.group(1));
      assertEquals("rw-------", PosixFilePermissions.toString(
          Files.getPosixFilePermissions(work.resolve(c))));
      assertNothingSecret(r);
    }
    CliRun again = CliRun.run(Map.of(), "keys", "new-component", "--out", component("c1"));
    assertEquals(ExitCodes.FAILURE, again.exitCode(), again.toString());
  }

  @Test
  @Order(2)
  void helpAndUsageErrors() {
    for (String sub : new String[] {"export", "import", "new-component"}) {
      CliRun h = CliRun.run(Map.of(), "keys", sub, "--help");
      assertEquals(ExitCodes.OK, h.exitCode(), h.toString());
      assertTrue(h.out().contains("Usage:"), h.toString());
    }
    assertEquals(ExitCodes.USAGE, run(source, "source", "keys", "export").exitCode());
    CliRun one = run(source, "source", "keys", "export", "--components", "1", "--out",
        work.resolve("x").toString());
    assertEquals(ExitCodes.USAGE, one.exitCode(), one.toString());
    assertTrue(one.err().contains("at least 2"), one.toString());
    CliRun files = run(source, "source", "keys", "export", "--components", "3",
        "--component-file", component("c1"), "--component-file", component("c2"), "--out",
        work.resolve("x").toString());
    assertEquals(ExitCodes.USAGE, files.exitCode(), files.toString());
    assertEquals(ExitCodes.USAGE, run(target, "target", "keys", "import").exitCode());
    assertFalse(Files.exists(work.resolve("x")));
  }

  @Test
  @Order(3)
  void export_withoutTheSoPin_isAPrerequisiteError_andANonBackupTokenIsRefusedWithTheReason()
      throws Exception {
    CliRun noSo = run(target, "target", "keys", "export", "--component-file", component("c1"),
        "--component-file", component("c2"), "--out", work.resolve("x").toString());
    assertEquals(ExitCodes.PREREQUISITE, noSo.exitCode(), noSo.toString());
    assertTrue(noSo.err().contains("Security Officer"), noSo.toString());
    CliRun never = run(other, "other", "keys", "export", "--component-file", component("c1"),
        "--component-file", component("c2"), "--out", work.resolve("x").toString());
    assertEquals(ExitCodes.FAILURE, never.exitCode(), never.toString());
    assertTrue(never.err().contains("kms-cred-root#v1 cannot be exported: it is"
        + " CKA_EXTRACTABLE=false"), never.toString());
    assertFalse(Files.exists(work.resolve("x")));
  }

  @Test
  @Order(4)
  void export_writesEveryKeyWrapped_0600_withTheHsmsComponentKcvs() throws Exception {
    Path out = work.resolve("keys.backup");
    CliRun r = run(source, "source", "keys", "export", "--component-file", component("c1"),
        "--component-file", component("c2"), "--out", out.toString());
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
    // The KCV the HSM computes for each component is the one printed when it was made.
    assertTrue(r.out().contains("component 1 of 2 entered: kcv " + componentKcvs.get("c1")),
        r.toString());
    assertTrue(r.out().contains("component 2 of 2 entered: kcv " + componentKcvs.get("c2")),
        r.toString());
    Map<String, String> src = kcvs(source, "source");
    for (Map.Entry<String, String> e : src.entrySet()) {
      assertTrue(r.out().contains(e.getValue().split(" ")[2]), e + "\n" + r);
    }
    assertNothingSecret(r);
    String text = Files.readString(out);
    assertTrue(text.startsWith("IMSKMS-KEY-BACKUP 1\n") && text.contains("\nMAC "), text);
    CliRun again = run(source, "source", "keys", "export", "--component-file", component("c1"),
        "--component-file", component("c2"), "--out", out.toString());
    assertEquals(ExitCodes.FAILURE, again.exitCode(), again.toString());
    assertTrue(Files.isDirectory(work.resolve("source-audit")), "no CLI audit log");
  }

  @Test
  @Order(5)
  void import_withOneWrongComponent_isRefusedNamingIt_andImportsNothing() throws Exception {
    CliRun r = run(target, "target", "keys", "import", "--in",
        work.resolve("keys.backup").toString(), "--component-file", component("c1"),
        "--component-file", component("c3"));
    assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("component 2 has check value " + componentKcvs.get("c3")),
        r.toString());
    assertTrue(r.err().contains("nothing was imported"), r.toString());
    // The target had no audit key: the import made one (before anything else) and printed it.
    assertTrue(r.out().contains("audit verifier key:"), r.toString());
    assertNothingSecret(r);
    CliRun list = run(target, "target", "keys", "list");
    assertNotEquals(ExitCodes.OK, list.exitCode(), list.toString());
  }

  @Test
  @Order(6)
  void import_ofAFileWithOneByteChanged_isRefused() throws Exception {
    byte[] file = Files.readAllBytes(work.resolve("keys.backup"));
    int at = new String(file, StandardCharsets.US_ASCII).indexOf("\"state\" : \"") + 12;
    file[at] ^= 0x01;
    Path bad = work.resolve("modified.backup");
    Files.write(bad, file);
    CliRun r = run(target, "target", "keys", "import", "--in", bad.toString(),
        "--component-file", component("c1"), "--component-file", component("c2"));
    assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("was modified"), r.toString());
    assertNothingSecret(r);
  }

  @Test
  @Order(6)
  void import_withAMalformedComponent_isRefusedNamingItsFault_andImportsNothing()
      throws Exception {
    StringBuilder b = new StringBuilder();
    for (String line : Files.readAllLines(work.resolve("c2"))) {
      if (!line.startsWith("#")) {
        b.append(line.replace(" ", ""));
      }
    }
    String digits = b.toString();
    assertEquals(68, digits.length());
    char lastCheck = digits.charAt(67);
    String[][] cases = {
        {digits.substring(0, 67), "component 2: expected 68 hex digits (64 of the component,"
            + " 4 check digits), got 67"},
        {digits + "0", "component 2: expected 68 hex digits (64 of the component,"
            + " 4 check digits), got 69"},
        {digits.substring(0, 5) + "z" + digits.substring(6), "component 2: not hexadecimal"},
        {digits.substring(0, 67) + (lastCheck == '0' ? '1' : '0'),
            "component 2: the check digits do not match the component"}};
    for (String[] c : cases) {
      Path bad = work.resolve("malformed-component");
      Files.writeString(bad, c[0] + "\n");
      CliRun r = run(target, "target", "keys", "import", "--in",
          work.resolve("keys.backup").toString(), "--component-file", component("c1"),
          "--component-file", bad.toString());
      Files.delete(bad);
      assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
      assertTrue(r.err().contains(c[1]), c[1] + " / " + r);
      assertFalse(r.out().contains(digits.substring(0, 64))
          || r.err().contains(digits.substring(0, 64)), "the component is never echoed");
      assertNothingSecret(r);
    }
    CliRun list = run(target, "target", "keys", "list");
    assertNotEquals(ExitCodes.OK, list.exitCode(), "nothing imported: " + list);
  }

  @Test
  @Order(7)
  void import_restoresEveryKeyWithTheSameKcvAndState_thenSkipsThemTheSecondTime()
      throws Exception {
    CliRun r = run(target, "target", "keys", "import", "--in",
        work.resolve("keys.backup").toString(), "--component-file", component("c1"),
        "--component-file", component("c2"));
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertNothingSecret(r);
    assertEquals(kcvs(source, "source"), kcvs(target, "target"));
    assertTrue(Files.readString(work.resolve("target-keys.json")).contains("kms-ticket-root"));
    CliRun again = run(target, "target", "keys", "import", "--in",
        work.resolve("keys.backup").toString(), "--component-file", component("c1"),
        "--component-file", component("c2"));
    assertEquals(ExitCodes.OK, again.exitCode(), again.toString());
    assertTrue(again.out().contains("already in the token, the same key"), again.toString());
    CliRun check = run(target, "target", "config", "check");
    String keysLine = check.out().lines().filter(l -> l.contains("long-term keys match"))
        .findFirst().orElseThrow(() -> new AssertionError(check.toString()));
    assertTrue(keysLine.contains("PASS") && keysLine.contains("4 restored from a backup"),
        check.toString());
  }

  @Test
  @Order(8)
  void import_intoATokenWithOtherKeysUnderTheSameLabels_isRefused() throws Exception {
    Map<String, String> before = kcvs(other, "other");
    CliRun r = run(other, "other", "keys", "import", "--in",
        work.resolve("keys.backup").toString(), "--component-file", component("c1"),
        "--component-file", component("c2"));
    assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("already holds different keys"), r.toString());
    assertEquals(before, kcvs(other, "other"));
  }

  /** A component as a custodian types it: the digits of the file on one line. */
  private static String typedComponent(String name) throws Exception {
    StringBuilder b = new StringBuilder();
    for (String line : Files.readAllLines(work.resolve(name))) {
      if (!line.startsWith("#")) {
        b.append(line).append(' ');
      }
    }
    return b.toString().trim();
  }

  @Test
  @Order(9)
  void import_withComponentsTypedAtATerminal_readsThemWithoutEcho() throws Exception {
    // A real terminal (script(1) gives the command a pseudo-terminal): Console.readPassword.
    List<String> cmd = List.of("script", "-qec", String.join(" ", List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", "'" + System.getProperty("java.class.path") + "'",
        KmsCli.class.getName(), "keys", "import", "--in", work.resolve("keys.backup").toString(),
        "--config", work.resolve("typed.yaml").toString())), "/dev/null");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", typed.confFile().toString());
    pb.environment().put("KMS_HSM_MODULE", typed.module().toString());
    pb.environment().put("KMS_HSM_TOKEN_LABEL", typed.label());
    pb.environment().put("KMS_HSM_PIN", typed.userPinForTest());
    Process p = pb.start();
    StringBuffer seen = new StringBuffer();
    Thread reader = new Thread(() -> {
      byte[] buf = new byte[4096];
      try (java.io.InputStream in = p.getInputStream()) {
        for (int n; (n = in.read(buf)) > 0; ) {
          seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
        }
      } catch (java.io.IOException e) {
        seen.append("\n[read failed: ").append(e).append(']');
      }
    });
    reader.start();
    // Type each component only once its prompt is shown (echo is off from then on; what is
    // typed ahead of a prompt the terminal echoes, as a real one would).
    for (String c : new String[] {"c1", "c2"}) {
      String prompt = "component " + c.substring(1) + ": ";
      long until = System.nanoTime() + 60_000_000_000L;
      while (seen.indexOf(prompt) < 0 && p.isAlive() && System.nanoTime() < until) {
        Thread.sleep(50);
      }
      assertTrue(seen.indexOf(prompt) >= 0, "no prompt '" + prompt + "':\n" + seen);
      p.getOutputStream().write((typedComponent(c) + "\n").getBytes(StandardCharsets.US_ASCII));
      p.getOutputStream().flush();
    }
    p.getOutputStream().close();
    assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "kms keys import hung");
    reader.join(10_000);
    String out = seen.toString();
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("custodian 1 of 2") && out.contains("custodian 2 of 2"), out);
    assertTrue(out.contains("component 2 of 2 entered: kcv " + componentKcvs.get("c2")), out);
    for (String c : new String[] {"c1", "c2"}) {
      String first = typedComponent(c).substring(0, 14);
      assertFalse(out.contains(first), "component echoed:\n" + out);
    }
    assertEquals(kcvs(source, "source"), kcvs(typed, "typed"));
  }
}
