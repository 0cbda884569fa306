package io.imskms.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.cli.ExitCodes;
import io.imskms.cli.StopSignal;
import io.imskms.client.CleartextCredentialFile;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.EnrolmentFile;
import io.imskms.protocol.Role;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operator's path through the CLI, in process, against a real SoftHSM2 token and over real
 * HTTPS on a free port: token init (twice: idempotent), keys list, development enrolment of the
 * demo principals (kms demo enroll) and a production enrolment with a device public key (kms
 * enroll), serve, demo, and a clean stop. This is
 * what {@code bin/kms up} followed by {@code bin/kms demo} does, minus the build and the shell.
 */
class CliEndToEndTest {
  private static SoftHsmTestToken token;
  private static Path work;
  private static Map<String, String> env;
  private static Path config;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "cli-e2e-");
    Path directory = work.resolve("directory.json");
    Files.writeString(directory, "{\"version\":1,\"mailboxes\":{\"" + DemoCommand.VM_BOB
        + "\":{\"users\":[\"" + DemoCommand.BOB + "\"]}}}");
    config = work.resolve("kms.yaml");
    Files.writeString(config, "http:\n  host: 127.0.0.1\ndev:\n  enabled: true\n");
    env = new HashMap<>();
    env.put("SOFTHSM2_CONF", token.confFile().toString());
    env.put("KMS_HSM_MODULE", token.module().toString());
    env.put("KMS_HSM_TOKEN_LABEL", token.label());
    env.put("KMS_HSM_PIN", token.userPinForTest());
    env.put("KMS_HTTP_PORT", String.valueOf(freePort()));
    env.put("KMS_CORE_DIRECTORY_FILE", directory.toString());
    env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
    env.put("KMS_DEV_TLS_DIR", work.resolve("tls").toString());
    env.put("KMS_AUDIT_DIR", work.resolve("audit").toString());
    env.put("KMS_DEV_MAILBOXES", DemoCommand.VM_BOB);
  }

  @AfterAll
  static void tearDown() throws java.io.IOException {
    if (token != null) {
      token.close();
    }
    // The work folder holds cleartext demo credentials and TLS private keys: leave nothing behind.
    if (work != null) {
      try (java.util.stream.Stream<Path> walk = Files.walk(work)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static CliRun cli(String... args) {
    return CliRun.run(env, args);
  }

  @Test
  void tokenInit_enroll_serve_demo_stop() throws Exception {
    CliRun init = cli("token", "init", "--config", config.toString());
    assertEquals(ExitCodes.OK, init.exitCode(), init.toString());
    // Four long-term keys, the audit checkpoint key and the audit pseudonym key.
    assertEquals(6, init.out().lines().filter(l -> l.contains("generated now")).count(),
        init.toString());
    assertTrue(Files.isRegularFile(work.resolve("keys.json")));
    CliRun again = cli("token", "init", "--config", config.toString());
    assertEquals(ExitCodes.OK, again.exitCode(), again.toString());
    assertEquals(6, again.out().lines().filter(l -> l.contains("already in the token")).count(),
        again.toString());

    CliRun keys = cli("keys", "list", "--config", config.toString());
    assertEquals(ExitCodes.OK, keys.exitCode(), keys.toString());
    assertTrue(keys.out().startsWith("LABEL"), keys.toString());
    assertEquals(4, keys.out().lines().filter(l -> l.contains(" active ")).count(),
        keys.toString());

    Path creds = work.resolve("demo");
    for (String[] p : new String[][] {{DemoCommand.ALICE, "ue"}, {DemoCommand.BOB, "ue"},
        {DemoCommand.VM_BOB, "mailbox"}}) {
      Path out = DemoCommand.credentialFile(creds, p[0]);
      CliRun r = CliRun.demo(env, "enroll", p[0], "--role", p[1], "--out", out.toString(),
          "--config", config.toString());
      assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
      assertEquals(p[0], CleartextCredentialFile.read(out).id());
    }
    CliRun wrongRole = CliRun.demo(env, "enroll", DemoCommand.VM_BOB, "--role", "ue", "--out",
        work.resolve("x.cred").toString(), "--config", config.toString());
    assertEquals(ExitCodes.FAILURE, wrongRole.exitCode(), wrongRole.toString());
    assertTrue(wrongRole.err().contains("UNKNOWN_PRINCIPAL"), wrongRole.toString());
    assertFalse(Files.exists(work.resolve("x.cred")));

    // Production enrolment: the device keeps its private key; the package is written.
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    Path pub = work.resolve("device.pem");
    Files.writeString(pub, "-----BEGIN PUBLIC KEY-----\n" + Base64.getMimeEncoder()
        .encodeToString(g.generateKeyPair().getPublic().getEncoded())
        + "\n-----END PUBLIC KEY-----\n");
    Path pkg = work.resolve("carol.enrolment");
    CliRun prod = cli("enroll", "sip:carol@ims.example.com", "--role", "ue",
        "--device-public-key", pub.toString(), "--out", pkg.toString(), "--config",
        config.toString());
    assertEquals(ExitCodes.OK, prod.exitCode(), prod.toString());
    EnrolmentFile f = EnrolmentFile.decode(Files.readAllBytes(pkg));
    assertEquals(Role.UE, f.role());
    assertEquals("sip:carol@ims.example.com", f.id());

    // serve until stopped; the demo runs against it over HTTPS.
    CountDownLatch ready = new CountDownLatch(1);
    CompletableFuture<Void> stop = new CompletableFuture<>();
    StopSignal testSignal = shutdown -> {
      ready.countDown();
      StopSignal.when(stop).awaitThenRun(shutdown);
    };
    CompletableFuture<CliRun> served = CompletableFuture.supplyAsync(
        () -> CliRun.run(env, testSignal, "serve", "--config", config.toString()));
    try {
      assertTrue(ready.await(60, TimeUnit.SECONDS) || served.isDone(),
          "serve did not get ready");
      assertFalse(served.isDone(), () -> "serve ended early: " + served.join());
      CliRun demo = CliRun.demo(env, "--server", "https://localhost:" + env.get("KMS_HTTP_PORT"),
          "--tls-dir", work.resolve("tls").toString(), "--credentials", creds.toString(),
          "--mailbox-dir", work.resolve("mailbox").toString(), "--media-out",
          work.resolve("media").toString(), "--seconds", "1");
      System.out.println(demo.out());
      assertEquals(ExitCodes.OK, demo.exitCode(), demo.toString());
      for (String step : new String[] {"Fig 17 step 1a", "Fig 17 step 1m", "Fig 17 steps 2a/2b",
          "Fig 17 step 4", "Fig 17 step 5", "Fig 17 step 6", "Fig 17 step 7", "Fig 19",
          "Fig 18 step 1b", "Fig 18 step 2", "Fig 18 step 3", "Fig 18 step 4", "Fig 18 step 5",
          "Fig 18 step 6", "403 NOT_AUTHORISED", "byte for byte: yes", "DEMO PASSED"}) {
        assertTrue(demo.out().contains(step), "missing " + step + " in\n" + demo);
      }
      assertTrue(Files.readAllBytes(work.resolve("media/sent.wav")).length > 44);
      assertEquals(-1L, Files.mismatch(work.resolve("media/sent.wav"),
          work.resolve("media/received.wav")));
      try (var dirs = Files.list(work.resolve("mailbox"))) {
        Path message = dirs.findFirst().orElseThrow();
        for (String file : new String[] {"meta.json", "offer.bin", "ticket.bin", "media.imsm"}) {
          assertTrue(Files.isRegularFile(message.resolve(file)), file);
        }
      }
    } finally {
      stop.complete(null);
    }
    CliRun serve = served.get(60, TimeUnit.SECONDS);
    assertEquals(ExitCodes.OK, serve.exitCode(), serve.toString());
    assertTrue(serve.err().contains("KMS ready on https://localhost:"), serve.toString());
    assertTrue(serve.err().contains("stopped"), serve.toString());
    String all = init.out() + init.err() + keys.out() + serve.err();
    assertFalse(all.contains(token.userPinForTest()), "the PIN was printed");
  }
}
