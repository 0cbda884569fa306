package io.imskms.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.imskms.api.tls.DevTls;
import java.io.IOException;
import java.io.Reader;
import java.math.BigInteger;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The distribution as an operator installs it: the tarball unpacked into an empty folder, its
 * layout and class paths checked, then a SoftHSM2 token initialised with the distribution's own
 * commands, the TLS key generated in the token, the server started from the distribution with a
 * configuration derived from the production sample, the seed run against it over HTTPS with the
 * demo tools, the server stopped with SIGTERM, and its audit log verified offline with only the
 * verifier key. Nothing of the build tree is used.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DistributionInstalledIT {
  private static final String ALICE = "sip:alice@ims.example.com";
  private static final String BOB = "sip:bob@ims.example.com";
  private static final String VM_BOB = "sip:vm.bob@ims.example.com";
  private static final String TOKEN_LABEL = "ims-kms-dist-it";
  private static final String TLS_ALIAS = "kms-tls";

  private static Path root;
  private static Path home;
  private static Path work;
  private static Path config;
  private static Map<String, String> env;
  private static String userPin;
  private static int port;
  private static final List<String> outputs = new ArrayList<>();

  @BeforeAll
  static void unpack() throws Exception {
    Path tarball = Path.of(System.getProperty("kms.distTarball"));
    assertTrue(Files.isRegularFile(tarball), "no tarball at " + tarball + " (mvn package)");
    root = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "dist-it-");
    Path install = Files.createDirectory(root.resolve("opt"));
    run(install, Map.of(), 60, "tar", "-xzf", tarball.toString());
    try (Stream<Path> s = Files.list(install)) {
      List<Path> top = s.toList();
      assertEquals(1, top.size(), "one top folder expected: " + top);
      home = top.get(0);
    }
    assertTrue(home.getFileName().toString().startsWith("ims-kms-"), home.toString());
    work = Files.createDirectory(root.resolve("var"));
    Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwx------"));
    env = new HashMap<>();
    env.put("PATH", System.getenv("PATH"));
    env.put("JAVA_HOME", System.getProperty("java.home"));
  }

  @AfterAll
  static void cleanUp() throws IOException {
    if (root != null) {
      try (Stream<Path> walk = Files.walk(root)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    if (userPin != null) {
      for (String out : outputs) {
        assertFalse(out.contains(userPin), "the user PIN appeared in a command's output");
      }
    }
  }

  // ------------------------------------------------------------------------------ layout

  @Test
  @Order(1)
  void layout_holdsLauncherConfigSamplesUnitLicencesAndSboms() {
    for (String f : new String[] {"bin/kms", "config/kms-dev.yaml", "config/kms-production.yaml",
        "systemd/ims-kms.service", "systemd/ims-kms.sysusers.conf", "LICENSE", "NOTICE",
        "sbom/server.cdx.json", "sbom/demo.cdx.json", "docs/operations.md"}) {
      assertTrue(Files.isRegularFile(home.resolve(f)), "missing " + f);
    }
    assertTrue(Files.isExecutable(home.resolve("bin/kms")));
  }

  @Test
  @Order(2)
  void lib_holdsExactlyTheServersRuntimeJars_andNoTestArtifact() throws Exception {
    Set<String> lib = jarNames(home.resolve("lib"));
    Set<String> demo = jarNames(home.resolve("lib/demo"));
    assertEquals(Set.of("demo"), nonJars(home.resolve("lib")), "lib/ holds only jars and demo/");
    assertEquals(Set.of(), nonJars(home.resolve("lib/demo")), "lib/demo/ holds only jars");
    for (String jar : union(lib, demo)) {
      assertFalse(jar.contains("junit") || jar.contains("opentest4j")
          || jar.contains("apiguardian") || jar.contains("-tests") || jar.contains("test-jar"),
          "test artifact shipped: " + jar);
    }
    for (String clientSide : new String[] {"kms-client", "reference-mailbox", "kms-demo"}) {
      assertTrue(lib.stream().noneMatch(j -> j.contains("." + clientSide + "-")),
          clientSide + " must not be on the server's class path: " + lib);
      assertTrue(demo.stream().anyMatch(j -> j.contains("." + clientSide + "-")),
          clientSide + " missing from lib/demo: " + demo);
    }
    assertTrue(lib.stream().noneMatch(demo::contains), "a jar in both lib/ and lib/demo/");
    // lib/ is exactly the server SBOM: its root component (kms-cli) plus every component.
    JsonNode sbom = new ObjectMapper().readTree(home.resolve("sbom/server.cdx.json").toFile());
    Set<String> expected = new TreeSet<>();
    JsonNode rootComponent = sbom.path("metadata").path("component");
    expected.add(fileName(rootComponent));
    List<String> noLicence = new ArrayList<>();
    for (JsonNode c : sbom.path("components")) {
      expected.add(fileName(c));
      if (!"io.imskms".equals(c.path("group").asText()) && c.path("licenses").isEmpty()) {
        noLicence.add(fileName(c));
      }
    }
    assertEquals(expected, lib, "lib/ differs from sbom/server.cdx.json");
    assertEquals(List.of(), noLicence, "third-party components without a licence in the SBOM");
    String notice = Files.readString(home.resolve("NOTICE"));
    for (String needle : new String[] {"Bouncy Castle", "Vert.x", "Netty", "ipkcs11wrapper",
        "Logback", "SLF4J", "Jackson", "Wycheproof"}) {
      assertTrue(notice.contains(needle), "NOTICE does not name " + needle);
    }
  }

  @Test
  @Order(3)
  void launcher_worksFromAnyFolderAndThroughASymlink_andItsClassPathStaysInside()
      throws Exception {
    Path link = Files.createSymbolicLink(root.resolve("kms-link"), home.resolve("bin/kms"));
    Result v = run(Path.of("/"), env, 60, link.toString(), "version");
    assertEquals(0, v.code, v.toString());
    assertTrue(v.out.startsWith("ims-kms "), v.toString());
    for (String kind : new String[] {"server", "demo"}) {
      Result cp = run(work, env, 60, link.toString(), "classpath", kind);
      assertEquals(0, cp.code, cp.toString());
      String[] entries = cp.out.strip().split(":");
      assertTrue(entries.length > 20, cp.toString());
      for (String e : entries) {
        Path p = Path.of(e);
        assertTrue(p.isAbsolute() && p.normalize().startsWith(home.toRealPath())
            && Files.isRegularFile(p), kind + " class path names " + e + " outside " + home);
      }
      assertEquals("server".equals(kind), Arrays.stream(entries).noneMatch(
          e -> e.contains("/lib/demo/")), kind + ": " + cp);
    }
    Result help = run(work, env, 60, link.toString(), "--help");
    assertEquals(0, help.code, help.toString());
    assertTrue(help.out.contains("config check"), help.toString());
  }

  @Test
  @Order(4)
  void systemdUnit_passesSystemdAnalyzeVerify() throws Exception {
    Path unit = root.resolve("ims-kms.service");
    String text = Files.readString(home.resolve("systemd/ims-kms.service"));
    for (String directive : new String[] {"User=ims-kms", "ProtectSystem=strict",
        "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "PrivateTmp=yes", "ReadWritePaths=",
        "LimitNOFILE=", "Restart=on-failure", "KillSignal=SIGTERM"}) {
      assertTrue(text.contains(directive), "the unit lacks " + directive.strip());
    }
    // verify checks that ExecStart exists: point it at this unpacked copy.
    Files.writeString(unit, text.replace("/opt/ims-kms/current/bin/kms",
        home.resolve("bin/kms").toString()));
    Path analyze = Path.of("/usr/bin/systemd-analyze");
    if (!Files.isExecutable(analyze)) {
      System.out.println("systemd-analyze not installed here: the unit's directives were checked"
          + " by text only");
      return;
    }
    Result r = run(root, env, 60, analyze.toString(), "verify", "--man=no", unit.toString());
    assertEquals(0, r.code, r.toString());
    assertFalse(r.err.contains("Unknown") || r.err.contains("unknown"), r.toString());
  }

  // ------------------------------------------------------------------------------ operated

  @Test
  @Order(10)
  void installedServer_tokenInitTlsKeyInTokenConfigCheckServeDemoStop() throws Exception {
    Path module = Path.of(System.getProperty("kms.softhsmModule",
        "/usr/lib/softhsm/libsofthsm2.so"));
    assertTrue(Files.isReadable(module), "SoftHSM2 missing: " + module);
    Path kms = home.resolve("bin/kms");

    // SoftHSM2's own configuration and the PINs (files, 0600), as docs/operations.md says.
    Path softhsm = Files.createDirectories(work.resolve("softhsm/tokens"));
    Path softhsmConf = work.resolve("softhsm/softhsm2.conf");
    Files.writeString(softhsmConf, "directories.tokendir = " + softhsm + "\n"
        + "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
    userPin = randomPin();
    Path userPinFile = ownerOnly(work.resolve("user.pin"), userPin);
    ownerOnly(work.resolve("so.pin"), randomPin());
    env.put("SOFTHSM2_CONF", softhsmConf.toString());

    // The configuration: the production sample with its ADAPT values replaced.
    port = freePort();
    Path directory = work.resolve("directory.json");
    Files.writeString(directory, "{\"version\":1,\"mailboxes\":{\"" + VM_BOB
        + "\":{\"users\":[\"" + BOB + "\"]}}}\n");
    Path ca = work.resolve("ca");
    DevTls carrierCa = DevTls.ensure(ca, List.of(VM_BOB));
    String sample = Files.readString(home.resolve("config/kms-production.yaml"));
    Map<String, String> adapt = new java.util.LinkedHashMap<>();
    adapt.put("host: 0.0.0.0", "host: 127.0.0.1");
    adapt.put("port: 8443", "port: " + port);
    adapt.put("/etc/ims-kms/tls/mailbox-ca.pem", carrierCa.caCert().toString());
    adapt.put("/opt/vendor/lib/libvendorpkcs11.so", module.toString());
    adapt.put("tokenLabel: ims-kms ", "tokenLabel: " + TOKEN_LABEL + " ");
    adapt.put("/etc/ims-kms/hsm-user.pin", userPinFile.toString());
    adapt.put("poolSize: 8 ", "poolSize: 2 ");
    adapt.put("/etc/ims-kms/directory.json", directory.toString());
    adapt.put("/var/lib/ims-kms/keys.json", work.resolve("keys.json").toString());
    adapt.put("/var/lib/ims-kms/audit", work.resolve("audit").toString());
    String derived = sample;
    for (Map.Entry<String, String> e : adapt.entrySet()) {
      assertTrue(derived.contains(e.getKey()), "the production sample no longer has "
          + e.getKey());
      derived = derived.replace(e.getKey(), e.getValue());
    }
    config = work.resolve("kms.yaml");
    Files.writeString(config, derived);

    // Before the token exists, config check names the failure and the exit code is 3.
    Result early = kms(kms, "config", "check", "--config", config.toString());
    assertEquals(3, early.code, early.toString());
    assertTrue(early.out.contains("FAIL  token found by label"), early.toString());

    // Token and long-term keys with the distribution's own command (SO PIN from so.pin).
    Result init = kms(kms, "token", "init", "--config", config.toString());
    assertEquals(0, init.code, init.toString());
    assertTrue(Files.isRegularFile(work.resolve("keys.json")), init.toString());

    // The TLS key pair generated in the token; the carrier's CA signs its CSR.
    Result keygen = kms(kms, "tls", "keygen", "--config", config.toString(), "--subject",
        "CN=localhost");
    assertEquals(0, keygen.code, keygen.toString());
    Path csr = work.resolve("server.csr");
    Result csrRun = kms(kms, "tls", "csr", "--config", config.toString(), "--out",
        csr.toString());
    assertEquals(0, csrRun.code, csrRun.toString());
    Path chain = work.resolve("server-chain.pem");
    signServerCsr(carrierCa, csr, chain);
    Result imported = kms(kms, "tls", "import-cert", "--config", config.toString(), "--chain",
        chain.toString());
    assertEquals(0, imported.code, imported.toString());

    // The demo principals, provisioned with the demo tools against the same token.
    Path creds = Files.createDirectories(work.resolve("creds"));
    for (String[] p : new String[][] {{ALICE, "ue"}, {BOB, "ue"}, {VM_BOB, "mailbox"}}) {
      Result r = kms(kms, "demo", "enroll", p[0], "--role", p[1], "--config", config.toString(),
          "--out", creds.resolve(safe(p[0]) + ".cred").toString());
      assertEquals(0, r.code, r.toString());
    }

    Result check = kms(kms, "config", "check", "--config", config.toString());
    assertEquals(0, check.code, check.toString());
    assertFalse(check.out.contains("FAIL"), check.toString());
    for (String line : new String[] {"PASS  token offers the required mechanisms",
        "PASS  user login", "PASS  long-term keys match the key manifest",
        "PASS  TLS material", "PASS  listen address free"}) {
      assertTrue(check.out.contains(line), "missing '" + line + "' in\n" + check);
    }

    Result selftest = kms(kms, "selftest", "--config", config.toString());
    assertEquals(0, selftest.code, selftest.toString());
    assertTrue(selftest.out.contains("PASSED"), selftest.toString());

    // The server from the distribution, the seed against it, then SIGTERM.
    Path serveLog = work.resolve("serve.log");
    ProcessBuilder pb = new ProcessBuilder(kms.toString(), "serve", "--config",
        config.toString()).directory(work.toFile()).redirectErrorStream(true)
        .redirectOutput(serveLog.toFile());
    pb.environment().clear();
    pb.environment().putAll(env);
    Process serve = pb.start();
    try {
      waitFor(serveLog, "KMS ready on https://", serve, Duration.ofSeconds(120));
      // Demo TLS folder: the carrier CA, and the mailbox's client certificate it issued.
      Result demo = kms(kms, "demo", "--server", "https://localhost:" + port, "--tls-dir",
          ca.toString(), "--credentials", creds.toString(), "--mailbox-dir",
          work.resolve("mailbox").toString(), "--media-out", work.resolve("media").toString(),
          "--seconds", "1");
      assertEquals(0, demo.code, demo.toString());
      assertTrue(demo.out.contains("DEMO PASSED") && demo.out.contains("403 NOT_AUTHORISED"),
          demo.toString());
    } finally {
      serve.destroy(); // SIGTERM
      boolean stopped = serve.waitFor(40, TimeUnit.SECONDS);
      if (!stopped) {
        serve.destroyForcibly();
      }
      String log = Files.readString(serveLog);
      outputs.add(log);
      assertTrue(stopped, "serve did not stop within 40 s of SIGTERM:\n" + log);
      assertEquals(0, serve.exitValue(), log);
      assertTrue(log.contains("stopped"), log);
    }

    // The audit trail, checked offline as an auditor would: the verifier key from the token,
    // then the log with nothing but that key.
    Result key = kms(kms, "audit", "key", "--config", config.toString());
    assertEquals(0, key.code, key.toString());
    String vkey = key.out.strip();
    assertTrue(vkey.contains("+"), key.toString());
    Result verified = kms(kms, "audit", "verify", "--key", vkey,
        work.resolve("audit").toString());
    assertEquals(0, verified.code, verified.toString());

    // The CLI's own steps (token init, TLS key, enrolments) in this host's CLI log, verified
    // together with the node's log, each with its own verifier key.
    Result cliKey = kms(kms, "audit", "key", "--cli", "--config", config.toString());
    assertEquals(0, cliKey.code, cliKey.toString());
    Path cliDir;
    try (java.util.stream.Stream<Path> s = Files.list(work.resolve("audit"))) {
      cliDir = s.filter(p -> p.getFileName().toString().startsWith("cli-")).findFirst()
          .orElseThrow(() -> new AssertionError("no CLI audit log in " + work.resolve("audit")));
    }
    Result both = kms(kms, "audit", "verify", "--key", vkey, "--key", cliKey.out.strip(),
        work.resolve("audit").toString(), cliDir.toString());
    assertEquals(0, both.code, both.toString());
    String cliRecords;
    try (java.util.stream.Stream<Path> s = Files.list(cliDir)) {
      StringBuilder b = new StringBuilder();
      for (Path f : s.filter(p -> p.toString().endsWith(".jsonl")).toList()) {
        b.append(Files.readString(f));
      }
      cliRecords = b.toString();
    }
    for (String event : new String[] {"\"event\":\"token.init\",\"outcome\":\"ok\"",
        "\"event\":\"tls.keygen\",\"outcome\":\"ok\"",
        "\"event\":\"tls.import_cert\",\"outcome\":\"ok\"",
        "\"event\":\"enrolment\",\"outcome\":\"ok\""}) {
      assertTrue(cliRecords.contains(event), event + " not in " + cliRecords);
    }
  }

  // ------------------------------------------------------------------------------ helpers

  private static Result kms(Path kms, String... args) throws Exception {
    String[] cmd = new String[args.length + 1];
    cmd[0] = kms.toString();
    System.arraycopy(args, 0, cmd, 1, args.length);
    Result r = run(work, env, 300, cmd);
    outputs.add(r.out + r.err);
    return r;
  }

  private static void signServerCsr(DevTls ca, Path csrFile, Path chainFile) throws Exception {
    PKCS10CertificationRequest csr;
    try (Reader r = Files.newBufferedReader(csrFile); PEMParser p = new PEMParser(r)) {
      csr = (PKCS10CertificationRequest) p.readObject();
    }
    X509Certificate caCert;
    try (var in = Files.newInputStream(ca.caCert())) {
      caCert = (X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
          .generateCertificate(in);
    }
    PrivateKey caKey;
    try (Reader r = Files.newBufferedReader(ca.caKey()); PEMParser p = new PEMParser(r)) {
      caKey = new JcaPEMKeyConverter().getPrivateKey((PrivateKeyInfo) p.readObject());
    }
    Instant now = Instant.now();
    X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
        X500Name.getInstance(caCert.getSubjectX500Principal().getEncoded()),
        BigInteger.valueOf(now.toEpochMilli()), Date.from(now.minus(Duration.ofMinutes(5))),
        Date.from(now.plus(Duration.ofDays(30))), csr.getSubject(),
        new JcaPEMKeyConverter().getPublicKey(csr.getSubjectPublicKeyInfo()));
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
    b.addExtension(Extension.extendedKeyUsage, false,
        new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
    b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(
        new GeneralName(GeneralName.dNSName, "localhost")));
    X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(
        b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKey)));
    try (JcaPEMWriter w = new JcaPEMWriter(Files.newBufferedWriter(chainFile))) {
      w.writeObject(leaf);
      w.writeObject(caCert);
    }
  }

  private static void waitFor(Path log, String line, Process p, Duration max) throws Exception {
    long deadline = System.nanoTime() + max.toNanos();
    while (System.nanoTime() < deadline) {
      String text = Files.exists(log) ? Files.readString(log) : "";
      if (text.contains(line)) {
        return;
      }
      if (!p.isAlive()) {
        throw new AssertionError("serve exited with " + p.exitValue() + ":\n" + text);
      }
      Thread.sleep(200);
    }
    throw new AssertionError("no '" + line + "' within " + max + ":\n" + Files.readString(log));
  }

  private static String fileName(JsonNode c) {
    return c.path("group").asText() + "." + c.path("name").asText() + "-"
        + c.path("version").asText() + ".jar";
  }

  private static Set<String> jarNames(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return new TreeSet<>(s.filter(p -> p.toString().endsWith(".jar"))
          .map(p -> p.getFileName().toString()).toList());
    }
  }

  private static Set<String> nonJars(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return new TreeSet<>(s.map(p -> p.getFileName().toString())
          .filter(n -> !n.endsWith(".jar")).toList());
    }
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> u = new TreeSet<>(a);
    u.addAll(b);
    return u;
  }

  private static String safe(String id) {
    return id.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9.+-]", "_");
  }

  private static String randomPin() {
    byte[] b = new byte[12];
    new SecureRandom().nextBytes(b);
    return java.util.HexFormat.of().formatHex(b);
  }

  private static Path ownerOnly(Path file, String content) throws IOException {
    Files.writeString(file, content + "\n", StandardCharsets.US_ASCII);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    return file;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private record Result(int code, String out, String err) {
    @Override
    public String toString() {
      return "exit " + code + "\n--- out\n" + out + "--- err\n" + err;
    }
  }

  private static Result run(Path dir, Map<String, String> environment, int timeoutSeconds,
      String... cmd) throws Exception {
    Path out = Files.createTempFile(root, "out-", ".txt");
    Path err = Files.createTempFile(root, "err-", ".txt");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
        .redirectOutput(out.toFile()).redirectError(err.toFile());
    pb.environment().clear();
    pb.environment().putAll(environment);
    Process p = pb.start();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(String.join(" ", cmd) + " did not finish within "
          + timeoutSeconds + " s");
    }
    return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
  }
}
