package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.tls.TokenKeyStore;
import io.imskms.audit.AuditEvent;
import io.imskms.hsm.Pkcs11Hsm;
import java.io.InputStream;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Date;
import java.util.HexFormat;
import java.util.concurrent.Callable;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code kms tls ...}: the server's TLS key pair inside the token, through the same SunPKCS11 key
 * store the server uses ({@link TokenKeyStore}: the token chosen by {@code hsm.tokenLabel}). The private key is
 * generated in the token and never leaves it; the operator gets a CSR, has it signed by the
 * carrier's CA and imports the chain. {@code keygen} and {@code import-cert} are recorded in the
 * CLI audit log ({@link CliAudit}: {@code tls.keygen}, {@code tls.import_cert}).
 */
@Command(name = "tls", mixinStandardHelpOptions = true,
    description = "The server's TLS key in the token (tls.keyStore.type: pkcs11).",
    subcommands = {TlsCommand.Keygen.class, TlsCommand.Csr.class, TlsCommand.ImportCert.class})
final class TlsCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(),
        "name a subcommand: keygen, csr, import-cert");
  }

  /** The token's SunPKCS11 key store as the server opens it, logged in with the user PIN. */
  private static TokenKeyStore tokenStore(ApiConfig cfg, CliContext ctx) throws Exception {
    HsmAccess.checkPrerequisites(cfg, ctx);
    char[] pin = HsmAccess.userPin(cfg, ctx);
    try {
      return TokenKeyStore.open(cfg, pin);
    } catch (ConfigException e) {
      throw new CliException(ExitCodes.HSM_UNAVAILABLE, e.getMessage(), e);
    } finally {
      Arrays.fill(pin, '\0');
    }
  }

  /** What the three steps share: the configuration, the key's alias, the token's key store. */
  abstract static class TlsStep implements Callable<Integer> {
    final CliContext ctx;

    @Mixin
    ConfigOption config;

    @Option(names = "--alias", paramLabel = "NAME",
        description = "the key's label (default: tls.keyStore.alias)")
    String alias;

    TlsStep(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      String a = alias != null ? alias : cfg.tls().keyStore().alias();
      if (a == null || a.isBlank()) {
        throw new CliException(ExitCodes.USAGE, "name the key: --alias or tls.keyStore.alias");
      }
      String event = auditEvent();
      if (event == null) {
        run(tokenStore(cfg, ctx), a, AuditEvent.builder("unrecorded", AuditEvent.Outcome.OK));
      } else {
        // A change of the token's TLS key is recorded in the CLI audit log, which is opened
        // (through the adapter, beside SunPKCS11) before anything is changed.
        try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
          CliAudit.step(cfg, hsm, ctx, event, rec -> {
            rec.detail("alias " + a);
            run(tokenStore(cfg, ctx), a, rec);
            return null;
          });
        }
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }

    /** The audit event of this step, or null for a step that changes nothing (csr). */
    abstract String auditEvent();

    abstract void run(TokenKeyStore token, String alias, AuditEvent.Builder rec) throws Exception;

    /** The SHA-256 fingerprint of a certificate, as records write digests. */
    static String fingerprint(Certificate c) throws Exception {
      return "sha256:" + HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
    }

    /** The private key under {@code alias}; a failure when there is none. */
    static PrivateKey key(KeyStore ks, String alias) throws Exception {
      if (!ks.isKeyEntry(alias)) {
        throw new CliException(ExitCodes.FAILURE, "the token has no key '" + alias
            + "' (kms tls keygen)");
      }
      return (PrivateKey) ks.getKey(alias, null);
    }
  }

  /** {@code kms tls keygen}. */
  @Command(name = "keygen", mixinStandardHelpOptions = true,
      description = "Generate an ECDSA P-256 key pair inside the token under --alias (its " +
          "CKA_LABEL), with a self-signed placeholder certificate until import-cert. The " +
          "SunPKCS11 configuration should make generated private keys sensitive and " +
          "non-extractable (the configuration made from hsm.* does; an operator's own " +
          "tls.keyStore.pkcs11Config file needs the attributes lines of docs/operations.md).")
  static final class Keygen extends TlsStep {
    @Option(names = "--subject", required = true, paramLabel = "DN",
        description = "subject of the CSR and placeholder certificate, e.g. CN=kms.example.com")
    String subject;

    Keygen(CliContext ctx) {
      super(ctx);
    }

    @Override
    String auditEvent() {
      return "tls.keygen";
    }

    @Override
    void run(TokenKeyStore token, String a, AuditEvent.Builder rec) throws Exception {
      X500Principal dn = new X500Principal(subject);
      rec.detail("alias " + a + ", subject " + dn.getName());
      KeyStore ks = token.store();
      if (ks.containsAlias(a)) {
        throw new CliException(ExitCodes.FAILURE, "the token already holds '" + a + "'");
      }
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC", token.provider());
      g.initialize(new ECGenParameterSpec("secp256r1"));
      KeyPair kp = g.generateKeyPair();
      ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA")
          .setProvider(token.provider()).build(kp.getPrivate());
      Instant now = Instant.now();
      X509Certificate placeholder = new JcaX509CertificateConverter().getCertificate(
          new JcaX509v3CertificateBuilder(dn, BigInteger.valueOf(now.toEpochMilli()),
              Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(Duration.ofDays(1))),
              dn, kp.getPublic()).build(signer));
      ks.setKeyEntry(a, kp.getPrivate(), null, new Certificate[] {placeholder});
      rec.detail("ECDSA P-256 key pair generated in the token as '" + a + "', subject "
          + dn.getName() + ", public key sha256:" + HexFormat.of().formatHex(MessageDigest
          .getInstance("SHA-256").digest(kp.getPublic().getEncoded())));
      ctx.out().println("generated an ECDSA P-256 key pair in the token as '" + a + "' (self-signed"
          + " placeholder certificate, valid 1 day); next: kms tls csr --alias " + a);
    }
  }

  /** {@code kms tls csr}. */
  @Command(name = "csr", mixinStandardHelpOptions = true,
      description = "Write a PKCS#10 certificate request (PEM) for the token's TLS key, signed " +
          "inside the token, for the carrier's CA.")
  static final class Csr extends TlsStep {
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "the CSR")
    Path out;

    Csr(CliContext ctx) {
      super(ctx);
    }

    @Override
    String auditEvent() {
      return null; // signs a request with the key; changes nothing in the token
    }

    @Override
    void run(TokenKeyStore token, String a, AuditEvent.Builder rec) throws Exception {
      PrivateKey key = key(token.store(), a);
      X509Certificate cert = (X509Certificate) token.store().getCertificate(a);
      var csr = new JcaPKCS10CertificationRequestBuilder(cert.getSubjectX500Principal(),
          cert.getPublicKey()).build(new JcaContentSignerBuilder("SHA256withECDSA")
              .setProvider(token.provider()).build(key));
      StringWriter pem = new StringWriter();
      try (JcaPEMWriter w = new JcaPEMWriter(pem)) {
        w.writeObject(csr);
      }
      Files.writeString(out, pem.toString(), StandardCharsets.US_ASCII);
      ctx.out().println("certificate request for '" + cert.getSubjectX500Principal().getName()
          + "' written to " + out + "; have it signed, then: kms tls import-cert --alias " + a
          + " --chain FILE");
    }
  }

  /** {@code kms tls import-cert}. */
  @Command(name = "import-cert", mixinStandardHelpOptions = true,
      description = "Store the signed certificate chain (PEM, server certificate first) with " +
          "the token's TLS key; refused unless the first certificate is for that key.")
  static final class ImportCert extends TlsStep {
    @Option(names = "--chain", required = true, paramLabel = "FILE",
        description = "PEM certificates: the server's first, then its CAs")
    Path chainFile;

    ImportCert(CliContext ctx) {
      super(ctx);
    }

    @Override
    String auditEvent() {
      return "tls.import_cert";
    }

    @Override
    void run(TokenKeyStore token, String a, AuditEvent.Builder rec) throws Exception {
      Certificate[] chain;
      try (InputStream in = Files.newInputStream(chainFile)) {
        chain = CertificateFactory.getInstance("X.509").generateCertificates(in)
            .toArray(Certificate[]::new);
      }
      if (chain.length == 0) {
        throw new CliException(ExitCodes.FAILURE, chainFile + " holds no certificate");
      }
      KeyStore ks = token.store();
      PrivateKey key = key(ks, a);
      if (!ks.getCertificate(a).getPublicKey().equals(chain[0].getPublicKey())) {
        throw new CliException(ExitCodes.FAILURE, "the first certificate of " + chainFile
            + " is not for the token's key '" + a + "'");
      }
      ks.setKeyEntry(a, key, null, chain);
      rec.detail("chain of " + chain.length + " certificate(s) stored with '" + a + "': "
          + ((X509Certificate) chain[0]).getSubjectX500Principal().getName() + ", "
          + fingerprint(chain[0]) + ", valid until "
          + ((X509Certificate) chain[0]).getNotAfter().toInstant());
      ctx.out().println("stored a chain of " + chain.length + " certificate(s) with '" + a
          + "' (" + ((X509Certificate) chain[0]).getSubjectX500Principal().getName()
          + ", valid until " + ((X509Certificate) chain[0]).getNotAfter().toInstant() + ")");
    }
  }
}
