package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.tls.DevTls;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.hsm.TokenProbe;
import io.imskms.redis.RedisProcess;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code kms config check} and the same checks in front of {@code kms serve}, against a real
 * SoftHSM2 token: a passing production-like configuration (PEM TLS material, key manifest), then
 * one fault at a time, each named on its FAIL line with the exit code it stands for.
 */
class ConfigCheckTest {
  private static final String VM_BOB = "sip:vm.bob@ims.example.com";
  private static SoftHsmTestToken token;
  private static Path work;
  private static Path config;
  private static DevTls tls;
  private static DevTls otherTls;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "cfgcheck-");
    Files.writeString(work.resolve("directory.json"), "{\"version\":1,\"mailboxes\":{\""
        + VM_BOB + "\":{\"users\":[\"sip:bob@ims.example.com\"]}}}");
    tls = DevTls.ensure(work.resolve("tls"), List.of(VM_BOB));
    otherTls = DevTls.ensure(work.resolve("other-tls"), List.of(VM_BOB));
    config = work.resolve("kms.yaml");
    Files.writeString(config, "http:\n  host: 127.0.0.1\n  port: 0\n"
        + "tls:\n  certFile: " + tls.serverCert() + "\n  keyFile: " + tls.serverKey()
        + "\n  clientCaFile: " + tls.caCert() + "\n"
        + "core:\n  directoryFile: " + work.resolve("directory.json") + "\n  keyManifest: "
        + work.resolve("keys.json") + "\n"
        + "audit:\n  dir: " + work.resolve("audit") + "\n");
    CliRun init = CliRun.run(env(Map.of()), "token", "init", "--config", config.toString());
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

  private static Map<String, String> env(Map<String, String> extra) {
    Map<String, String> env = new HashMap<>();
    env.put("SOFTHSM2_CONF", token.confFile().toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    env.putAll(extra);
    return env;
  }

  private static CliRun check(Map<String, String> extra) {
    return CliRun.run(env(extra), "config", "check", "--config", config.toString());
  }

  private static void assertFails(CliRun r, int code, String failLine) {
    assertEquals(code, r.exitCode(), r.toString());
    assertTrue(r.out().contains("FAIL  " + failLine), "no FAIL line '" + failLine + "' in\n" + r);
  }

  @Test
  void goodConfiguration_passesEveryCheck_andNamesEachOne() {
    CliRun r = check(Map.of());
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertFalse(r.out().contains("FAIL"), r.toString());
    for (String line : new String[] {"configuration parses", "PKCS#11 library present",
        "user PIN available", "PKCS#11 library loads", "token found by label",
        "token offers the required mechanisms", "user login",
        "long-term keys match the key manifest",
        "audit directory writable and signing key present", "mailbox directory", "TLS material",
        "listen address free", "writable paths"}) {
      assertTrue(r.out().contains("PASS  " + line), "no PASS line '" + line + "' in\n" + r);
    }
    assertTrue(r.out().contains("configuration OK"), r.toString());
    assertFalse(r.out().contains(token.userPinForTest()) || r.err().contains(
        token.userPinForTest()), "the PIN was printed");
  }

  @Test
  void replayStoreRedis_answeringIsAPassLine_unreachableIsAPrerequisite() throws Exception {
    assertTrue(check(Map.of()).out().contains("PASS  replay store: memory"));
    try (RedisProcess redis = RedisProcess.start("config-check")) {
      Map<String, String> env = Map.of("KMS_REPLAY_STORE", "redis",
          "KMS_REDIS_ENDPOINTS", redis.endpoint());
      CliRun up = check(env);
      assertEquals(ExitCodes.OK, up.exitCode(), up.toString());
      assertTrue(up.out().contains("PASS  replay store: Redis standalone [" + redis.endpoint()
          + "] answers PING"), up.toString());
      redis.kill();
      assertFails(check(env), ExitCodes.PREREQUISITE, "replay store: Redis standalone");
      assertFails(check(Map.of("KMS_REPLAY_STORE", "redis", "KMS_REDIS_ENDPOINTS",
          "redis://:secret@127.0.0.1:1")), ExitCodes.PREREQUISITE,
          "replay store: redis.endpoints: no password in the URL");
    }
  }

  @Test
  void requiredMechanisms_areNamedAsPkcs11DoesOnEveryPassLine() {
    CliRun r = check(Map.of());
    for (String m : TokenProbe.requiredMechanisms()) {
      assertTrue(m.startsWith("CKM_"), m);
      assertTrue(r.out().contains(m), m + " not named in\n" + r);
    }
    assertEquals(12, TokenProbe.requiredMechanisms().size());
  }

  @Test
  void wrongPin_failsLogin_withHsmUnavailable() {
    assertFails(check(Map.of("KMS_HSM_PIN", "not-the-pin-1234")), ExitCodes.HSM_UNAVAILABLE,
        "user login");
  }

  @Test
  void unknownTokenLabel_listsTheTokensPresent() {
    CliRun r = check(Map.of("KMS_HSM_TOKEN_LABEL", "no-such-token"));
    assertFails(r, ExitCodes.HSM_UNAVAILABLE, "token found by label");
    assertTrue(r.out().contains(token.label()), r.toString());
  }

  @Test
  void manifestOfAnotherToken_failsTheKeyCheck() throws Exception {
    Path forged = work.resolve("forged-keys.json");
    String manifest = Files.readString(work.resolve("keys.json"));
    // Another token's keys have other KCVs: flip the first KCV's first hex digit.
    int at = manifest.indexOf("\"kcv\"");
    assertTrue(at > 0, manifest);
    int quote = manifest.indexOf('"', manifest.indexOf(':', at) + 1) + 1;
    char c = manifest.charAt(quote);
    Files.writeString(forged, manifest.substring(0, quote) + (c == '0' ? '1' : '0')
        + manifest.substring(quote + 1));
    assertFails(check(Map.of("KMS_CORE_KEY_MANIFEST", forged.toString())),
        ExitCodes.HSM_UNAVAILABLE, "long-term keys match the key manifest");
  }

  @Test
  void missingManifestOutsideDevMode_isAPrerequisite() {
    assertFails(check(Map.of("KMS_CORE_KEY_MANIFEST", work.resolve("none.json").toString())),
        ExitCodes.PREREQUISITE, "long-term keys match the key manifest");
  }

  @Test
  void keyOfAnotherCertificate_failsTheTlsCheck() {
    CliRun r = check(Map.of("KMS_TLS_KEY_FILE", otherTls.serverKey().toString()));
    assertFails(r, ExitCodes.PREREQUISITE, "TLS material");
    assertTrue(r.out().contains("do not belong together"), r.toString());
  }

  @Test
  void auditDirectoryThatIsAFile_orNoAuditKeyInTheToken_isAPrerequisite() throws Exception {
    Path file = Files.writeString(work.resolve("not-a-dir"), "x");
    assertFails(check(Map.of("KMS_AUDIT_DIR", file.toString())), ExitCodes.PREREQUISITE,
        "audit directory writable and signing key present: audit.dir " + file
            + " is not a directory");
    CliRun r = check(Map.of("KMS_AUDIT_KEY_LABEL", "kms-audit-ed25519-v9"));
    assertFails(r, ExitCodes.PREREQUISITE, "audit directory writable and signing key present");
    assertTrue(r.out().contains("run kms token init"), r.toString());
  }

  @Test
  void missingDirectory_isAPrerequisite() {
    assertFails(check(Map.of("KMS_CORE_DIRECTORY_FILE", work.resolve("nope.json").toString())),
        ExitCodes.PREREQUISITE, "mailbox directory");
  }

  @Test
  void busyPort_failsTheListenCheck_andServeRefusesToStart() throws Exception {
    try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      Map<String, String> extra = Map.of("KMS_HTTP_PORT", String.valueOf(busy.getLocalPort()));
      assertFails(check(extra), ExitCodes.FAILURE, "listen address free");
      CliRun serve = CliRun.run(env(extra), "serve", "--config", config.toString());
      assertEquals(ExitCodes.FAILURE, serve.exitCode(), serve.toString());
      assertTrue(serve.err().contains("FAIL  listen address free")
          && serve.err().contains("not starting"), serve.toString());
      assertFalse(serve.err().contains("KMS ready"), serve.toString());
    }
  }
}
