package io.imskms.hsm;

/**
 * What a key may be used for. Each usage maps to exactly one set of PKCS#11 attributes and allowed
 * mechanisms (see docs/architecture.md): DERIVE to CKM_AES_ECB_ENCRYPT_DATA, WRAP/UNWRAP to
 * CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_PAD, ENCRYPT/DECRYPT to CKM_AES_GCM, SIGN/VERIFY to
 * CKM_SHA256_HMAC (HMAC keys) or CKM_AES_CMAC (AES keys).
 */
public enum KeyUsage {
  DERIVE,
  WRAP,
  UNWRAP,
  ENCRYPT,
  DECRYPT,
  SIGN,
  VERIFY
}
