package io.imskms.audit;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.EdECPrivateKeySpec;
import java.security.spec.NamedParameterSpec;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;

/** A software Ed25519 signer for tests (the KMS signs in the HSM): JDK signing, seed-based key. */
final class TestSigner implements CheckpointSigner {
  private final String name;
  private final PrivateKey key;
  private final byte[] pub;

  TestSigner(String name, byte[] seed) {
    this.name = name;
    try {
      key = KeyFactory.getInstance("Ed25519").generatePrivate(
          new EdECPrivateKeySpec(NamedParameterSpec.ED25519, seed.clone()));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
    // The public key from Bouncy Castle (independent of the JDK key handling above).
    pub = new Ed25519PrivateKeyParameters(seed, 0).generatePublicKey().getEncoded();
  }

  static TestSigner random(String name) {
    byte[] seed = new byte[32];
    new java.security.SecureRandom().nextBytes(seed);
    return new TestSigner(name, seed);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public byte[] publicKey() {
    return pub.clone();
  }

  @Override
  public byte[] sign(byte[] message) throws SigningException {
    try {
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(key);
      s.update(message);
      return s.sign();
    } catch (GeneralSecurityException e) {
      throw new SigningException("test signer failed", e);
    }
  }

}
