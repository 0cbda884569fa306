package io.imskms.hsm;

/**
 * An ephemeral EC key pair made inside the HSM: a reference to the private half (a session object
 * that only derives) and the public point, uncompressed.
 *
 * @param privateKey the private key, usable only with {@link HsmSession#deriveEcdh}
 * @param publicPoint 0x04 ‖ X ‖ Y (65 bytes for P-256)
 */
public record EcKeyPair(KeyRef privateKey, byte[] publicPoint) {
  public EcKeyPair {
    publicPoint = publicPoint.clone();
  }

  @Override
  public byte[] publicPoint() {
    return publicPoint.clone();
  }

  @Override
  public String toString() {
    return "EcKeyPair[" + privateKey + "]";
  }
}
