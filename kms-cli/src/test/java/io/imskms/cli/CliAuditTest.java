package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.audit.HsmCheckpointSigner;
import io.imskms.audit.AuditEvent;
import io.imskms.audit.AuditLog;
import io.imskms.audit.AuditLogOptions;
import io.imskms.audit.AuditRecord;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CLI's own steps are recorded in this host's CLI audit log ({@link CliAudit}) on a real
 * SoftHSM2 token: token init, key rotation and state changes (granted and refused), enrolment;
 * the CLI log verifies together with the node's log with the two verifier keys; a step whose
 * record cannot be written changes nothing; two CLI runs serialise on the log's lock; with
 * {@code audit.identities: pseudonymised} records carry {@code p1:} values only, stable across
 * HSM sessions and equal to what {@code kms audit pseudonym} prints.
 */
class CliAuditTest {
  private static final String CAROL = "sip:carol@ims.example.com";
  private static final String VM_BOB = "sip:vm.bob@ims.example.com";

  /** One token for the class (SoftHsmTestToken's rule); each test has its own folders. */
  private static SoftHsmTestToken token;

  @BeforeAll
  static void token() {
    token = SoftHsmTestToken.create();
  }

  @AfterAll
  static void closeToken() {
    if (token != null) {
      token.close();
    }
  }

  private record Setup(SoftHsmTestToken token, Path work, Path audit, Map<String, String> env)
      implements AutoCloseable {
    Path cliDir() {
      return audit.resolve("cli-" + CliAudit.host());
    }

    @Override
    public void close() {
      // the token is the class's
    }
  }

  private static Setup setup(String identities) throws Exception {
    Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
        "cli-audit-");
    Path audit = work.resolve("audit");
    Path directory = work.resolve("directory.json");
    Files.writeString(directory, "{\"version\":1,\"mailboxes\":{\"" + VM_BOB
        + "\":{\"users\":[\"sip:bob@ims.example.com\"]}}}", StandardCharsets.UTF_8);
    Map<String, String> env = new HashMap<>();
    env.put("SOFTHSM2_CONF", token.confFile().toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
    env.put("KMS_CORE_DIRECTORY_FILE", directory.toString());
    env.put("KMS_AUDIT_DIR", audit.toString());
    env.put("KMS_AUDIT_IDENTITIES", identities);
    return new Setup(token, work, audit, env);
  }

  private static CliRun ok(Map<String, String> env, String... args) {
    CliRun r = CliRun.run(env, args);
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    return r;
  }

  private static List<AuditRecord> records(Path dir) throws Exception {
    List<AuditRecord> out = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path f : s.filter(p -> p.toString().endsWith(".jsonl")).sorted().toList()) {
        for (String l : Files.readAllLines(f, StandardCharsets.UTF_8)) {
          out.add(AuditRecord.parse(l.getBytes(StandardCharsets.UTF_8)));
        }
      }
    }
    return out;
  }

  private static String allText(Path dir) throws Exception {
    StringBuilder b = new StringBuilder();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path f : s.filter(Files::isRegularFile).toList()) {
        b.append(Files.readString(f, StandardCharsets.ISO_8859_1));
      }
    }
    return b.toString();
  }

  private static Path devicePublicKey(Path work) throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    Path pub = work.resolve("device-" + System.nanoTime() + ".pem");
    Files.writeString(pub, "-----BEGIN PUBLIC KEY-----\n" + Base64.getMimeEncoder()
        .encodeToString(g.generateKeyPair().getPublic().getEncoded())
        + "\n-----END PUBLIC KEY-----\n");
    return pub;
  }

  @Test
  void cliSteps_areRecordedInTheHostsCliLog_whichVerifiesWithTheNodeLog() throws Exception {
    try (Setup s = setup("plain")) {
      CliRun init = ok(s.env(), "token", "init");
      String printed = init.out().lines()
          .filter(l -> l.startsWith("audit verifier key (CLI steps on this host): "))
          .findFirst().orElseThrow().substring(45);
      String cliKey = ok(s.env(), "audit", "key", "--cli").out().strip();
      assertEquals(printed, cliKey);
      String nodeKey = ok(s.env(), "audit", "key").out().strip();
      assertTrue(cliKey.startsWith("imskms.example/audit/node-1/cli-" + CliAudit.host() + "+"),
          cliKey);

      ok(s.env(), "keys", "rotate", "TICKET_ROOT");
      ok(s.env(), "keys", "state", "TICKET_ROOT", "2", "decrypt-only");
      CliRun refused = CliRun.run(s.env(), "keys", "state", "TICKET_ROOT", "1", "retired");
      assertEquals(ExitCodes.FAILURE, refused.exitCode(), refused.toString());
      ok(s.env(), "enroll", CAROL, "--role", "ue", "--device-public-key",
          devicePublicKey(s.work()).toString(), "--out",
          s.work().resolve("carol.enrolment").toString());

      // The node's own log, written as the server writes it, in <audit.dir>.
      try (Pkcs11Hsm hsm = s.token().open()) {
        try (AuditLog log = AuditLog.open(AuditLogOptions.defaults(s.audit(),
            "imskms.example/audit/node-1", "node-1"), new HsmCheckpointSigner(hsm,
            "imskms.example/audit/node-1", "kms-audit-ed25519-v1"))) {
          log.append(AuditEvent.builder("server.start", AuditEvent.Outcome.INFO).build()).get();
        }
      }
      CliRun verify = CliRun.run(Map.of(), "audit", "verify", "--key", nodeKey, "--key", cliKey,
          s.audit().toString(), s.cliDir().toString());
      assertEquals(0, verify.exitCode(), verify.toString());

      List<AuditRecord> rs = records(s.cliDir());
      assertEquals(List.of("token.init", "keys.rotate", "keys.state", "keys.state", "enrolment"),
          rs.stream().map(r -> r.event().event()).toList(), rs.toString());
      assertEquals(List.of("ok", "ok", "ok", "refused", "ok"),
          rs.stream().map(r -> r.event().outcome().wire()).toList());
      for (AuditRecord r : rs) {
        assertEquals("cli-" + CliAudit.host(), r.node());
        assertTrue(r.event().caller().startsWith("os:" + System.getProperty("user.name")),
            r.event().caller());
        assertTrue(r.event().requestId().startsWith("cli-"), r.event().requestId());
      }
      assertTrue(rs.get(0).event().detail().startsWith("token '" + token.label()
          + "' initialised; generated: "), rs.get(0).event().detail());
      assertEquals("kms-ticket-root:2", rs.get(1).event().keyVersions());
      assertTrue(rs.get(1).event().detail().contains("kms-ticket-root#v2 generated"),
          rs.get(1).event().detail());
      assertEquals("kms-ticket-root:1", rs.get(3).event().keyVersions());
      assertEquals(CAROL, rs.get(4).event().idA());
      assertNull(rs.get(4).event().idBm());
      assertEquals("credential:1", rs.get(4).event().keyVersions());
      assertFalse(allText(s.cliDir()).contains(s.token().userPinForTest()), "a PIN leaked");
    }
  }

  @Test
  void aStepWhoseRecordCannotBeWritten_changesNothing() throws Exception {
    try (Setup s = setup("plain")) {
      ok(s.env(), "token", "init");
      Path blocker = s.work().resolve("not-a-directory");
      Files.writeString(blocker, "a regular file where the audit directory should be");
      Map<String, String> env = new HashMap<>(s.env());
      env.put("KMS_AUDIT_DIR", blocker.resolve("audit").toString());

      CliRun rotate = CliRun.run(env, "keys", "rotate", "BTID_MAC");
      assertEquals(ExitCodes.FAILURE, rotate.exitCode(), rotate.toString());
      assertTrue(rotate.err().contains("refusing to act without an audit record"),
          rotate.toString());
      CliRun list = ok(s.env(), "keys", "list");
      assertFalse(list.out().lines().anyMatch(l -> l.startsWith("kms-btid-mac")
          && l.split("\\s+")[1].equals("2")), list.toString());
      CliRun enroll = CliRun.run(env, "enroll", CAROL, "--role", "ue", "--device-public-key",
          devicePublicKey(s.work()).toString(), "--out",
          s.work().resolve("carol.enrolment").toString());
      assertEquals(ExitCodes.FAILURE, enroll.exitCode(), enroll.toString());
      assertFalse(Files.exists(s.work().resolve("carol.enrolment")), "no package released");
    }
  }

  @Test
  void aSecondCliRun_waitsForTheLogsLock_thenAppends() throws Exception {
    try (Setup s = setup("plain")) {
      ok(s.env(), "token", "init");
      Instant released;
      CompletableFuture<CliRun> second;
      // Another process holds the lock of this host's CLI log, as a CLI run in progress does.
      Process holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java")
          .toString(), "-cp", System.getProperty("java.class.path"), LockHolder.class.getName(),
          s.cliDir().resolve(".lock").toString()).redirectErrorStream(true).start();
      try {
        String first = new java.io.BufferedReader(new java.io.InputStreamReader(
            holder.getInputStream(), StandardCharsets.UTF_8)).readLine();
        assertEquals("locked", first);
        second = CompletableFuture.supplyAsync(() -> CliRun.run(s.env(), "keys", "rotate",
            "MEDIA_ROOT"));
        Thread.sleep(1500);
        assertFalse(second.isDone(), "the second run did not wait for the lock");
        released = Instant.now();
        holder.getOutputStream().close(); // the holder releases the lock and exits
        holder.waitFor();
      } finally {
        holder.destroyForcibly();
      }
      CliRun r = second.get();
      assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
      List<AuditRecord> rs = records(s.cliDir());
      AuditRecord rotate = rs.get(rs.size() - 1);
      assertEquals("keys.rotate", rotate.event().event());
      assertFalse(rotate.event().time().isBefore(released.minusMillis(1)),
          "recorded only after the lock was released");
      String cliKey = ok(s.env(), "audit", "key", "--cli").out().strip();
      CliRun verify = CliRun.run(Map.of(), "audit", "verify", "--key", cliKey,
          s.cliDir().toString());
      assertEquals(0, verify.exitCode(), verify.toString());
    }
  }

  @Test
  void pseudonymisedIdentities_areP1Values_stable_andMatchKmsAuditPseudonym() throws Exception {
    try (Setup s = setup("pseudonymised")) {
      ok(s.env(), "token", "init");
      ok(s.env(), "enroll", CAROL, "--role", "ue", "--device-public-key",
          devicePublicKey(s.work()).toString(), "--out",
          s.work().resolve("carol.enrolment").toString());
      ok(s.env(), "enroll", VM_BOB, "--role", "mailbox", "--device-public-key",
          devicePublicKey(s.work()).toString(), "--out",
          s.work().resolve("vmbob.enrolment").toString());

      // Each command opens (and finalizes) the module afresh: a restart of the HSM client.
      String carol = ok(s.env(), "audit", "pseudonym", CAROL).out().strip();
      String again = ok(s.env(), "audit", "pseudonym", CAROL).out().strip();
      String vmBob = ok(s.env(), "audit", "pseudonym", VM_BOB).out().strip();
      assertTrue(carol.matches("p1:[0-9a-f]{64}"), carol);
      assertEquals(carol, again, "the same identity, the same pseudonym");
      assertFalse(carol.equals(vmBob));

      List<AuditRecord> rs = records(s.cliDir());
      List<AuditRecord> enrolments = rs.stream()
          .filter(r -> r.event().event().equals("enrolment")).toList();
      assertEquals(carol, enrolments.get(0).event().idA());
      assertEquals(vmBob, enrolments.get(1).event().idBm());
      List<AuditRecord> lookups = rs.stream()
          .filter(r -> r.event().event().equals("audit.pseudonym")).toList();
      assertEquals(List.of(carol, carol, vmBob),
          lookups.stream().map(r -> r.event().idA()).toList());
      String text = allText(s.cliDir());
      assertFalse(text.contains("carol@"), "an identity in clear: " + text);
      assertFalse(text.contains("vm.bob@"), "an identity in clear");
      String cliKey = ok(s.env(), "audit", "key", "--cli").out().strip();
      assertEquals(0, CliRun.run(Map.of(), "audit", "verify", "--key", cliKey,
          s.cliDir().toString()).exitCode());
    }
  }

  /** Holds an exclusive lock on a file (args[0]) until its standard input closes. */
  public static final class LockHolder {
    public static void main(String[] args) throws Exception {
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.CREATE,
          StandardOpenOption.WRITE); FileLock held = ch.lock()) {
        System.out.println("locked");
        System.out.flush();
        while (System.in.read() >= 0) {
          // wait for the test to close our standard input
        }
      }
    }
  }
}
