package io.imskms.hsm;

/** The secret-key types the KMS uses. Every key is 256 bits unless the name says otherwise. */
public enum KeyAlgorithm {
  /** AES with a 128-bit key (CKK_AES, CKA_VALUE_LEN 16). */
  AES_128(16),
  /** AES with a 192-bit key (CKK_AES, CKA_VALUE_LEN 24); for conformance vectors. */
  AES_192(24),
  /** AES with a 256-bit key (CKK_AES, CKA_VALUE_LEN 32). */
  AES_256(32),
  /** A 256-bit generic secret used only as an HMAC-SHA-256 key (CKK_GENERIC_SECRET). */
  HMAC_SHA256(32),
  /** An EC private key on P-256 (CKK_EC), used only for ECDH (CKM_ECDH1_DERIVE) at enrolment. */
  EC_P256(32);

  private final int lengthBytes;

  KeyAlgorithm(int lengthBytes) {
    this.lengthBytes = lengthBytes;
  }

  public int lengthBytes() {
    return lengthBytes;
  }

  public boolean isAes() {
    return this == AES_128 || this == AES_192 || this == AES_256;
  }
}
