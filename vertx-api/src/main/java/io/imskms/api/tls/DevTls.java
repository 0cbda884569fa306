package io.imskms.api.tls;

import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;

/**
 * Development TLS material under one directory: a self-signed CA, a server certificate for
 * localhost / 127.0.0.1 / ::1, and one client certificate per mailbox identity (its
 * subjectAltName URI is the identity). All keys are P-256; private keys are PKCS#8 PEM files of
 * mode 0600. Files that exist are reused, so a second start changes nothing; a missing client
 * certificate is issued by the existing CA.
 *
 * <p>Insecure for production by design: the CA key lies next to the certificates it signs.
 */
public final class DevTls {
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Duration CA_LIFETIME = Duration.ofDays(3650);
  private static final Duration LEAF_LIFETIME = Duration.ofDays(825);

  private final Path dir;

  private DevTls(Path dir) {
    this.dir = dir;
  }

  /** The material in {@code dir}, created where missing. */
  public static DevTls ensure(Path dir, List<String> mailboxes) throws IOException {
    DevTls t = new DevTls(dir);
    Files.createDirectories(t.clientDir());
    try {
      if (!Files.exists(t.caCert()) || !Files.exists(t.caKey())) {
        KeyPair ca = newKeyPair();
        X500Name name = name("imskms dev CA");
        X509v3CertificateBuilder b = builder(name, name, ca.getPublic(), CA_LIFETIME);
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
        b.addExtension(Extension.keyUsage, true,
            new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        b.addExtension(Extension.subjectKeyIdentifier, false,
            ext.createSubjectKeyIdentifier(ca.getPublic()));
        writeKey(t.caKey(), ca.getPrivate());
        writeCert(t.caCert(), sign(b, ca.getPrivate()));
        Files.deleteIfExists(t.serverCert());
      }
      if (!Files.exists(t.serverCert()) || !Files.exists(t.serverKey())) {
        KeyPair kp = newKeyPair();
        GeneralNames san = new GeneralNames(new GeneralName[] {
            new GeneralName(GeneralName.dNSName, "localhost"),
            new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
            new GeneralName(GeneralName.iPAddress, "::1")});
        X509Certificate cert = t.issue(name("localhost"), kp.getPublic(), san,
            KeyPurposeId.id_kp_serverAuth);
        writeKey(t.serverKey(), kp.getPrivate());
        writeCert(t.serverCert(), cert);
      }
      for (String mailbox : mailboxes) {
        if (!Files.exists(t.clientCert(mailbox)) || !Files.exists(t.clientKey(mailbox))) {
          t.issueClient(mailbox, t.clientCert(mailbox), t.clientKey(mailbox));
        }
      }
    } catch (GeneralSecurityException | OperatorCreationException e) {
      throw new IOException("cannot create the development TLS material in " + dir, e);
    }
    return t;
  }

  /**
   * Issues a client certificate for {@code identity} (SAN URI) with this CA, writing the
   * certificate and its 0600 key to the given files.
   */
  public void issueClient(String identity, Path certFile, Path keyFile) throws IOException {
    try {
      KeyPair kp = newKeyPair();
      GeneralNames san = new GeneralNames(
          new GeneralName(GeneralName.uniformResourceIdentifier, identity));
      X509Certificate cert = issue(name(identity), kp.getPublic(), san,
          KeyPurposeId.id_kp_clientAuth);
      writeKey(keyFile, kp.getPrivate());
      writeCert(certFile, cert);
    } catch (GeneralSecurityException | OperatorCreationException e) {
      throw new IOException("cannot issue a client certificate", e);
    }
  }

  public Path dir() {
    return dir;
  }

  public Path caCert() {
    return dir.resolve("ca.pem");
  }

  public Path caKey() {
    return dir.resolve("ca-key.pem");
  }

  public Path serverCert() {
    return dir.resolve("server.pem");
  }

  public Path serverKey() {
    return dir.resolve("server-key.pem");
  }

  public Path clientDir() {
    return dir.resolve("clients");
  }

  /** The client certificate file of a mailbox identity. */
  public Path clientCert(String identity) {
    return clientDir().resolve(fileName(identity) + ".pem");
  }

  /** The client key file of a mailbox identity. */
  public Path clientKey(String identity) {
    return clientDir().resolve(fileName(identity) + "-key.pem");
  }

  static String fileName(String identity) {
    return identity.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.+-]", "_");
  }

  private X509Certificate issue(X500Name subject, PublicKey key, GeneralNames san,
      KeyPurposeId purpose) throws IOException, GeneralSecurityException,
      OperatorCreationException {
    X509Certificate ca = readCert(caCert());
    PrivateKey caKey = readKey(caKey());
    X509v3CertificateBuilder b = builder(
        X500Name.getInstance(ca.getSubjectX500Principal().getEncoded()), subject, key,
        LEAF_LIFETIME);
    JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
    b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
    b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
    b.addExtension(Extension.subjectAlternativeName, false, san);
    b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(key));
    b.addExtension(Extension.authorityKeyIdentifier, false,
        ext.createAuthorityKeyIdentifier(ca));
    return sign(b, caKey);
  }

  private static X509v3CertificateBuilder builder(X500Name issuer, X500Name subject,
      PublicKey key, Duration lifetime) {
    Instant now = Instant.now();
    return new JcaX509v3CertificateBuilder(issuer, new BigInteger(127, RANDOM).add(BigInteger.ONE),
        Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(lifetime)), subject, key);
  }

  private static X500Name name(String cn) {
    return new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, "imskms dev")
        .addRDN(BCStyle.CN, cn).build();
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key)
      throws OperatorCreationException, GeneralSecurityException {
    ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(key);
    X509CertificateHolder h = b.build(signer);
    return new JcaX509CertificateConverter().getCertificate(h);
  }

  private static KeyPair newKeyPair() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
    return g.generateKeyPair();
  }

  /** Reads the first certificate of a PEM file. */
  public static X509Certificate readCert(Path file) throws IOException {
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII);
        PEMParser p = new PEMParser(r)) {
      Object o = p.readObject();
      if (!(o instanceof X509CertificateHolder)) {
        throw new IOException(file + " holds no certificate");
      }
      return new JcaX509CertificateConverter().getCertificate((X509CertificateHolder) o);
    } catch (GeneralSecurityException e) {
      throw new IOException(file + " holds no readable certificate", e);
    }
  }

  private static PrivateKey readKey(Path file) throws IOException {
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII);
        PEMParser p = new PEMParser(r)) {
      Object o = p.readObject();
      JcaPEMKeyConverter c = new JcaPEMKeyConverter();
      if (o instanceof PrivateKeyInfo) {
        return c.getPrivateKey((PrivateKeyInfo) o);
      }
      if (o instanceof PEMKeyPair) {
        return c.getKeyPair((PEMKeyPair) o).getPrivate();
      }
      throw new IOException(file + " holds no private key");
    }
  }

  private static void writeCert(Path file, X509Certificate cert) throws IOException {
    StringWriter w = new StringWriter();
    try (JcaPEMWriter pw = new JcaPEMWriter(w)) {
      pw.writeObject(cert);
    }
    writeAtomically(file, w.toString(), false);
  }

  private static void writeKey(Path file, PrivateKey key) throws IOException {
    StringWriter w = new StringWriter();
    try (JcaPEMWriter pw = new JcaPEMWriter(w)) {
      pw.writeObject(new JcaPKCS8Generator(key, null));
    }
    writeAtomically(file, w.toString(), true);
  }

  /** Writes through a temporary file created 0600 (keys) so no reader sees a partial file. */
  private static void writeAtomically(Path file, String content, boolean secret)
      throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, ".tmp-", ".pem",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    try {
      Files.writeString(tmp, content, StandardCharsets.US_ASCII);
      if (!secret) {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
      }
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Identities in a certificate's subjectAltName URIs (used by tests and tools). */
  public static List<String> sanUris(X509Certificate cert) {
    return ClientIdentity.sanUris(cert);
  }
}
