package io.imskms.cli;

import io.imskms.api.ReplayDefence;
import io.imskms.api.audit.AuditKeys;
import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.tls.TokenKeyStore;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.keys.KeyManifest;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.TokenProbe;
import io.imskms.redis.RedisReplayOptions;
import io.imskms.redis.RedisReplayStore;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * The checks of {@code kms config check}, also run by {@code kms serve} before it starts: each
 * gives one line, pass or fail, and for a failure what to do. A failed check carries the CLI exit
 * code it stands for (2 prerequisite or configuration, 3 HSM unavailable, 1 otherwise). The PIN
 * is read but never shown.
 */
public final class ConfigChecks {
  /**
   * One check's outcome.
   *
   * @param name what was checked
   * @param ok passed
   * @param detail what was found, or what to do
   * @param exitCode the exit code a failure stands for
   */
  public record Result(String name, boolean ok, String detail, int exitCode) {
    /** The line {@code kms config check} prints. */
    public String line() {
      return (ok ? "PASS  " : "FAIL  ") + name + (detail.isEmpty() ? "" : ": " + detail);
    }
  }

  private final ApiConfig cfg;
  private final CliContext ctx;
  private final List<Result> results = new ArrayList<>();
  /** Why {@link #openOrNull} returned null. */
  private String hsmUnusable = "the token is not usable";

  private ConfigChecks(ApiConfig cfg, CliContext ctx) {
    this.cfg = cfg;
    this.ctx = ctx;
  }

  /** Runs every check that can run (a failed HSM step skips the steps that need it). */
  public static List<Result> run(ApiConfig cfg, CliContext ctx) {
    ConfigChecks c = new ConfigChecks(cfg, ctx);
    c.all();
    return List.copyOf(c.results);
  }

  /** The exit code of a run: 0, or that of the first failure. */
  public static int exitCode(List<Result> results) {
    return results.stream().filter(r -> !r.ok()).mapToInt(Result::exitCode).findFirst()
        .orElse(ExitCodes.OK);
  }

  private void pass(String name, String detail) {
    results.add(new Result(name, true, detail, ExitCodes.OK));
  }

  private void fail(String name, String detail, int code) {
    results.add(new Result(name, false, detail, code));
  }

  private void all() {
    char[] pin = null;
    try {
      HsmAccess.checkPrerequisites(cfg, ctx);
      pass("PKCS#11 library present", cfg.hsm().module());
    } catch (CliException e) {
      fail("PKCS#11 library present", e.getMessage(), e.exitCode());
    }
    try {
      pin = HsmAccess.userPin(cfg, ctx);
      pass("user PIN available", ctx.env().containsKey("KMS_HSM_PIN") ? "from KMS_HSM_PIN"
          : "from " + cfg.hsm().pinFile());
    } catch (CliException e) {
      fail("user PIN available", e.getMessage(), e.exitCode());
    }
    boolean hsmOk = false;
    if (pin != null && results.stream().allMatch(Result::ok)) {
      List<TokenProbe.Step> steps = TokenProbe.run(Path.of(cfg.hsm().module()),
          cfg.hsm().tokenLabel(), pin);
      for (TokenProbe.Step s : steps) {
        if (s.ok()) {
          pass(s.name(), s.detail());
        } else {
          fail(s.name(), s.detail(), s.name().startsWith("PKCS#11 library")
              ? ExitCodes.PREREQUISITE : ExitCodes.HSM_UNAVAILABLE);
        }
      }
      hsmOk = steps.stream().allMatch(TokenProbe.Step::ok) && steps.size() == 4;
    }
    if (hsmOk) {
      // One log-in serves the key and the audit checks.
      try (Pkcs11Hsm hsm = keys()) {
        audit(hsm, true);
      }
    } else {
      audit(null, false);
    }
    directory();
    tls(pin);
    listenAddress();
    replayStore();
    writablePaths();
    if (pin != null) {
      Arrays.fill(pin, '\0');
    }
  }

  /**
   * Checks the long-term keys against the key manifest, and returns the token opened for the
   * checks that follow, or {@code null} when it cannot be opened.
   */
  private Pkcs11Hsm keys() {
    String name = "long-term keys match the key manifest";
    String manifest = cfg.core().keyManifest();
    boolean exists = !manifest.isBlank() && Files.isRegularFile(Path.of(manifest));
    if (!exists) {
      if (cfg.dev().enabled() || cfg.core().provisionKeys()) {
        pass(name, "no manifest yet (" + (manifest.isBlank() ? "core.keyManifest unset"
            : manifest) + "); core.provisionKeys/dev mode generates the keys at the first start");
      } else {
        fail(name, "key manifest " + (manifest.isBlank() ? "(core.keyManifest unset)" : manifest)
            + " not found: the server refuses to start without it outside dev mode; run kms"
            + " token init at the key ceremony", ExitCodes.PREREQUISITE);
      }
      return openOrNull();
    }
    Map<String, String> expected;
    try {
      expected = new TreeMap<>(KeyManifest.read(Path.of(manifest)).expectedKcvs());
    } catch (IOException | RuntimeException e) {
      fail(name, "cannot read " + manifest + ": " + e.getMessage(), ExitCodes.FAILURE);
      return null;
    }
    // Opening with the manifest's KCVs finds every key and compares every KCV; the adapter
    // refuses a key that is not sensitive and unmodifiable, that is extractable without
    // CKA_WRAP_WITH_TRUSTED, or that was not generated in the token and is not pinned by the
    // manifest (docs/architecture.md, "Backup and restore under dual control").
    Pkcs11Hsm hsm = openOrNull();
    if (hsm == null) {
      fail(name, hsmUnusable, ExitCodes.HSM_UNAVAILABLE);
    } else {
      int backupCapable = 0;
      int restored = 0;
      try {
        for (io.imskms.hsm.LongTermKeyInfo k : hsm.listLongTermKeys()) {
          backupCapable += k.backupCapable() ? 1 : 0;
          restored += k.restored() ? 1 : 0;
        }
      } catch (io.imskms.hsm.HsmException e) {
        fail(name, e.getMessage(), ExitCodes.FAILURE);
        return hsm;
      }
      pass(name, expected.size() + " keys present, KCVs as recorded in " + manifest
          + ", each sensitive and unmodifiable; " + backupCapable + " extractable only under a"
          + " trusted key (backup-capable), the others never extractable; " + restored
          + " restored from a backup (core.keyBackup " + cfg.core().keyBackup() + ")");
    }
    return hsm;
  }

  /** The token opened as the server opens it (manifest KCVs pinned), or null. */
  private Pkcs11Hsm openOrNull() {
    try {
      return HsmAccess.open(cfg, ctx);
    } catch (CliException e) {
      hsmUnusable = e.getMessage();
    }
    return null;
  }

  /**
   * The server refuses to start without a writable audit directory and the checkpoint key in
   * the token (docs/audit-format.md).
   */
  private void audit(Pkcs11Hsm hsm, boolean probed) {
    String name = "audit directory writable and signing key present";
    ApiConfig.Audit a = cfg.audit();
    Path dir = Path.of(a.dir()).toAbsolutePath();
    boolean writable = Files.isDirectory(dir) ? Files.isWritable(dir)
        : !Files.exists(dir) && writableParent(dir);
    if (!writable) {
      fail(name, "audit.dir " + dir + (Files.exists(dir) && !Files.isDirectory(dir)
          ? " is not a directory" : " is not writable by this user (as the service user:"
          + " chown/chmod, or systemd ReadWritePaths)"), ExitCodes.PREREQUISITE);
      return;
    }
    if (hsm == null) {
      fail(name, probed ? hsmUnusable : "audit.dir " + dir + " is writable; the key '"
          + a.keyLabel() + "' was not looked for (the token is not usable)",
          ExitCodes.HSM_UNAVAILABLE);
      return;
    }
    try {
      if (AuditKeys.present(hsm, a)) {
        pass(name, dir + "; Ed25519 key '" + a.keyLabel() + "', verifier key "
            + AuditKeys.verifierKey(hsm, a).encode());
      } else if (cfg.dev().enabled() || cfg.core().provisionKeys()) {
        pass(name, dir + "; key '" + a.keyLabel() + "' not yet in the token: core.provisionKeys"
            + "/dev mode generates it at the first start");
      } else {
        fail(name, "the audit checkpoint key '" + a.keyLabel() + "' is not in the token: the"
            + " server refuses to start without it; run kms token init", ExitCodes.PREREQUISITE);
      }
    } catch (HsmException e) {
      fail(name, e.getMessage(), ExitCodes.HSM_UNAVAILABLE);
    }
    if (io.imskms.api.audit.AuditPseudonyms.enabled(a)) {
      // With pseudonymised identities the server refuses to start without the HMAC key.
      String pname = "audit pseudonym key present (audit.identities: pseudonymised)";
      String key = a.pseudonymKeyLabel() + "#v" + io.imskms.api.audit.AuditPseudonyms.KEY_VERSION;
      try {
        if (io.imskms.api.audit.AuditPseudonyms.present(hsm, a)) {
          pass(pname, "HMAC key '" + key + "'");
        } else if (cfg.dev().enabled() || cfg.core().provisionKeys()) {
          pass(pname, "key '" + key + "' not yet in the token: core.provisionKeys/dev mode"
              + " generates it at the first start");
        } else {
          fail(pname, "the audit pseudonym key '" + key + "' is not in the token: the server"
              + " refuses to start without it; run kms token init", ExitCodes.PREREQUISITE);
        }
      } catch (HsmException e) {
        fail(pname, e.getMessage(), ExitCodes.HSM_UNAVAILABLE);
      }
    }
  }

  /**
   * With {@code replay.store: redis}, Redis must answer PING within the configured bound and must
   * not evict keys (docs/configuration.md, "Replay store on Redis"); the server itself starts
   * without it but serves nothing until it answers.
   */
  private void replayStore() {
    String name = "replay store";
    if (!cfg.replay().redis()) {
      pass(name, "memory (this process only: one node; several nodes need replay.store: redis)");
      return;
    }
    RedisReplayOptions o;
    try {
      o = ReplayDefence.redisOptions(cfg.redis());
    } catch (ConfigException e) {
      fail(name, e.getMessage(), ExitCodes.PREREQUISITE);
      return;
    }
    String where = "Redis " + o.type() + " " + o.endpointsForLog();
    Vertx vertx = Vertx.vertx();
    try {
      String error = RedisReplayStore.ping(vertx, o);
      if (error == null) {
        pass(name, where + " answers PING, maxmemory-policy noeviction");
      } else {
        fail(name, where + ": " + error + " (the server would answer 503"
            + " REPLAY_STORE_UNAVAILABLE and stay not ready)", ExitCodes.PREREQUISITE);
      }
    } finally {
      vertx.close().await();
    }
  }

  private void directory() {
    String name = "mailbox directory";
    Path f = Path.of(cfg.core().directoryFile());
    try {
      MailboxDirectory.load(f);
      pass(name, f.toString());
    } catch (Exception e) {
      fail(name, f + ": " + e.getMessage() + " (format: docs/configuration.md)",
          ExitCodes.PREREQUISITE);
    }
  }

  private void tls(char[] pin) {
    String name = "TLS material";
    if (cfg.dev().enabled()) {
      Path dir = Path.of(cfg.dev().tlsDir());
      if (Files.isDirectory(dir) || writableParent(dir)) {
        pass(name, "dev mode: self-signed material in " + dir + " (made at the first start)");
      } else {
        fail(name, "dev.tlsDir " + dir + " cannot be created", ExitCodes.PREREQUISITE);
      }
      return;
    }
    ApiConfig.Tls t = cfg.tls();
    try {
      List<X509Certificate> cas = readCerts(t.clientCaFile(), "tls.clientCaFile");
      X509Certificate[] chain;
      String keyWhere;
      if (t.keyStore().isPkcs11()) {
        if (cfg.hsm().recycleAfterObjects() > 0) {
          throw new CheckFailure("tls.keyStore.type pkcs11 needs hsm.recycleAfterObjects: 0");
        }
        if (pin == null) {
          throw new CheckFailure("the PKCS#11 key store needs the user PIN");
        }
        chain = tokenKey(t.keyStore(), pin);
        keyWhere = "key '" + t.keyStore().alias() + "' in the token";
      } else {
        List<X509Certificate> certs = readCerts(t.certFile(), "tls.certFile");
        PrivateKey key = readKey(t.keyFile());
        proveMatch(key, null, certs.get(0).getPublicKey(), "tls.keyFile and tls.certFile");
        chain = certs.toArray(X509Certificate[]::new);
        keyWhere = "key " + t.keyFile();
      }
      X509Certificate leaf = chain[0];
      Date now = new Date();
      if (now.after(leaf.getNotAfter()) || now.before(leaf.getNotBefore())) {
        throw new CheckFailure("the server certificate is valid only from "
            + leaf.getNotBefore() + " to " + leaf.getNotAfter());
      }
      pass(name, "server certificate '" + leaf.getSubjectX500Principal().getName()
          + "' valid until " + leaf.getNotAfter().toInstant() + ", matching the " + keyWhere
          + "; " + cas.size() + " mailbox client CA certificate(s)");
    } catch (CheckFailure e) {
      fail(name, e.getMessage(), ExitCodes.PREREQUISITE);
    }
  }

  private X509Certificate[] tokenKey(ApiConfig.KeyStore ks, char[] pin) throws CheckFailure {
    try {
      TokenKeyStore token = TokenKeyStore.open(cfg, pin);
      KeyStore store = token.store();
      String alias = ks.alias();
      if (alias.isEmpty() || !store.isKeyEntry(alias)) {
        throw new CheckFailure("the token has no TLS key entry '" + alias + "' (kms tls keygen,"
            + " kms tls csr, kms tls import-cert)");
      }
      Certificate[] chain = store.getCertificateChain(alias);
      if (chain == null || chain.length == 0) {
        throw new CheckFailure("the TLS key '" + alias + "' has no certificate chain");
      }
      X509Certificate[] out = Arrays.stream(chain).map(c -> (X509Certificate) c)
          .toArray(X509Certificate[]::new);
      proveMatch((PrivateKey) store.getKey(alias, null), token.provider(),
          out[0].getPublicKey(), "the token's TLS key and its certificate");
      return out;
    } catch (CheckFailure e) {
      throw e;
    } catch (ConfigException e) {
      throw new CheckFailure(e.getMessage());
    } catch (Exception e) {
      throw new CheckFailure("cannot read the TLS key from the token ("
          + e.getClass().getSimpleName() + ")");
    }
  }

  /** Signs random bytes with the key and verifies them with the certificate's public key. */
  private static void proveMatch(PrivateKey key, Provider p, PublicKey pub, String what)
      throws CheckFailure {
    String alg = switch (pub.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      default -> throw new CheckFailure(what + ": unsupported key algorithm "
          + pub.getAlgorithm());
    };
    try {
      byte[] data = new byte[32];
      new SecureRandom().nextBytes(data);
      Signature s = p == null ? Signature.getInstance(alg) : Signature.getInstance(alg, p);
      s.initSign(key);
      s.update(data);
      byte[] sig = s.sign();
      Signature v = Signature.getInstance(alg);
      v.initVerify(pub);
      v.update(data);
      if (!v.verify(sig)) {
        throw new CheckFailure(what + " do not belong together");
      }
    } catch (CheckFailure e) {
      throw e;
    } catch (Exception e) {
      throw new CheckFailure(what + ": cannot use the key (" + e.getClass().getSimpleName()
          + ")");
    }
  }

  private static List<X509Certificate> readCerts(String file, String key) throws CheckFailure {
    if (file == null || file.isBlank() || !Files.isReadable(Path.of(file))) {
      throw new CheckFailure(key + " (" + file + ") is not a readable file");
    }
    try (InputStream in = Files.newInputStream(Path.of(file))) {
      Collection<? extends Certificate> certs =
          CertificateFactory.getInstance("X.509").generateCertificates(in);
      if (certs.isEmpty()) {
        throw new CheckFailure(key + " (" + file + ") holds no certificate");
      }
      return certs.stream().map(c -> (X509Certificate) c).toList();
    } catch (CheckFailure e) {
      throw e;
    } catch (Exception e) {
      throw new CheckFailure(key + " (" + file + ") is not a PEM certificate file");
    }
  }

  private static PrivateKey readKey(String file) throws CheckFailure {
    if (file == null || file.isBlank() || !Files.isReadable(Path.of(file))) {
      throw new CheckFailure("tls.keyFile (" + file + ") is not a readable file");
    }
    try (Reader r = Files.newBufferedReader(Path.of(file)); PEMParser parser = new PEMParser(r)) {
      Object o = parser.readObject();
      if (!(o instanceof PrivateKeyInfo info)) {
        throw new CheckFailure("tls.keyFile (" + file + ") is not a PEM PKCS#8 private key");
      }
      return new JcaPEMKeyConverter().getPrivateKey(info);
    } catch (CheckFailure e) {
      throw e;
    } catch (Exception e) {
      throw new CheckFailure("tls.keyFile (" + file + ") cannot be read as a private key");
    }
  }

  private void listenAddress() {
    String name = "listen address free";
    String where = cfg.http().host() + ":" + cfg.http().port();
    if (cfg.http().port() == 0) {
      pass(name, "port 0: any free port");
      return;
    }
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(cfg.http().host(), cfg.http().port()));
      pass(name, where);
    } catch (IOException e) {
      fail(name, where + " cannot be bound (" + e.getMessage() + "): another process (a"
          + " running KMS?) holds it, or http.host is not an address of this host",
          ExitCodes.FAILURE);
    }
  }

  private void writablePaths() {
    List<String> bad = new ArrayList<>();
    List<String> ok = new ArrayList<>();
    String manifest = cfg.core().keyManifest();
    if (!manifest.isBlank()) {
      writableFolder(Path.of(manifest).toAbsolutePath().getParent(), "core.keyManifest folder",
          ok, bad);
    }
    if (cfg.dev().enabled()) {
      writableFolder(Path.of(cfg.dev().tlsDir()).toAbsolutePath(), "dev.tlsDir", ok, bad);
    }
    if (bad.isEmpty()) {
      pass("writable paths", ok.isEmpty() ? "none configured" : String.join(", ", ok));
    } else {
      fail("writable paths", "not writable by this user: " + String.join(", ", bad)
          + " (as the service user: chown/chmod, or systemd ReadWritePaths)",
          ExitCodes.PREREQUISITE);
    }
  }

  private static void writableFolder(Path dir, String what, List<String> ok, List<String> bad) {
    boolean writable = Files.isDirectory(dir) ? Files.isWritable(dir) : writableParent(dir);
    (writable ? ok : bad).add(what + " " + dir);
  }

  /** Whether {@code p} could be created: its nearest existing ancestor is a writable folder. */
  private static boolean writableParent(Path p) {
    for (Path a = p.toAbsolutePath().getParent(); a != null; a = a.getParent()) {
      if (Files.exists(a)) {
        return Files.isDirectory(a) && Files.isWritable(a);
      }
    }
    return false;
  }

  /** A check's failure with the operator's message. */
  private static final class CheckFailure extends Exception {
    CheckFailure(String message) {
      super(message, null, false, false);
    }
  }
}
