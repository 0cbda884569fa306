package io.imskms.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.audit.AuditRecord;
import io.imskms.hsm.SoftHsmTestToken;
import java.io.Reader;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Test;

/**
 * {@code kms tls keygen} and {@code kms tls import-cert} (SunPKCS11 beside the adapter in one
 * process, on a real SoftHSM2 token) are recorded in the host's CLI audit log; {@code csr}, which
 * changes nothing, is not; the CLI log verifies.
 */
class CliAuditTlsTest {

  @Test
  void tlsKeygenAndImportCert_areRecorded() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
          "cli-audit-tls-");
      Path audit = work.resolve("audit");
      Map<String, String> env = new HashMap<>();
      env.put("SOFTHSM2_CONF", token.confFile().toString());
      env.put("KMS_HSM_MODULE", token.module().toString());
      env.put("KMS_HSM_TOKEN_LABEL", token.label());
      env.put("KMS_HSM_PIN", token.userPinForTest());
      env.put("KMS_HSM_RECYCLE_AFTER_OBJECTS", "0");
      env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
      env.put("KMS_AUDIT_DIR", audit.toString());
      env.put("KMS_TLS_KEY_STORE_TYPE", "pkcs11");
      env.put("KMS_TLS_KEY_STORE_ALIAS", "kms-tls");
      assertEquals(ExitCodes.OK, CliRun.run(env, "token", "init").exitCode());

      CliRun keygen = CliRun.run(env, "tls", "keygen", "--subject", "CN=localhost");
      assertEquals(ExitCodes.OK, keygen.exitCode(), keygen.toString());
      Path csr = work.resolve("server.csr");
      CliRun csrRun = CliRun.run(env, "tls", "csr", "--out", csr.toString());
      assertEquals(ExitCodes.OK, csrRun.exitCode(), csrRun.toString());
      Path chain = work.resolve("chain.pem");
      sign(csr, chain);
      CliRun imported = CliRun.run(env, "tls", "import-cert", "--chain", chain.toString());
      assertEquals(ExitCodes.OK, imported.exitCode(), imported.toString());

      Path cliDir = audit.resolve("cli-" + CliAudit.host());
      List<AuditRecord> rs = new ArrayList<>();
      try (Stream<Path> s = Files.list(cliDir)) {
        for (Path f : s.filter(p -> p.toString().endsWith(".jsonl")).sorted().toList()) {
          for (String l : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            rs.add(AuditRecord.parse(l.getBytes(StandardCharsets.UTF_8)));
          }
        }
      }
      assertEquals(List.of("token.init", "tls.keygen", "tls.import_cert"),
          rs.stream().map(r -> r.event().event()).toList(), rs.toString());
      assertTrue(rs.get(1).event().detail().contains("'kms-tls', subject CN=localhost, public"
          + " key sha256:"), rs.get(1).event().detail());
      assertTrue(rs.get(2).event().detail().matches("chain of 2 certificate\\(s\\) stored with"
          + " 'kms-tls': CN=localhost, sha256:[0-9a-f]{64}, valid until .*"),
          rs.get(2).event().detail());
      String cliKey = CliRun.run(env, "audit", "key", "--cli").out().strip();
      CliRun verify = CliRun.run(Map.of(), "audit", "verify", "--key", cliKey,
          cliDir.toString());
      assertEquals(0, verify.exitCode(), verify.toString());
    }
  }

  /** A throw-away CA in software signs the CSR; the chain file holds leaf then CA. */
  private static void sign(Path csrFile, Path chainFile) throws Exception {
    PKCS10CertificationRequest csr;
    try (Reader r = Files.newBufferedReader(csrFile); PEMParser p = new PEMParser(r)) {
      csr = (PKCS10CertificationRequest) p.readObject();
    }
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair ca = g.generateKeyPair();
    X500Principal caName = new X500Principal("CN=test carrier CA");
    Instant now = Instant.now();
    var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(ca.getPrivate());
    X509Certificate caCert = new JcaX509CertificateConverter().getCertificate(
        new JcaX509v3CertificateBuilder(caName, BigInteger.ONE,
            Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(Duration.ofDays(1))),
            caName, ca.getPublic()).build(signer));
    X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(
        new JcaX509v3CertificateBuilder(X500Name.getInstance(caName.getEncoded()),
            BigInteger.TWO, Date.from(now.minus(Duration.ofMinutes(5))),
            Date.from(now.plus(Duration.ofDays(1))), csr.getSubject(),
            new JcaPEMKeyConverter().getPublicKey(csr.getSubjectPublicKeyInfo()))
            .build(signer));
    try (JcaPEMWriter w = new JcaPEMWriter(Files.newBufferedWriter(chainFile))) {
      w.writeObject(leaf);
      w.writeObject(caCert);
    }
  }
}
