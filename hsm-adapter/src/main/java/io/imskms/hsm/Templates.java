package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import java.util.Arrays;
import java.util.Set;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.KeyPairTemplate;

/**
 * Key templates. Every template sets CKA_SENSITIVE=true and every usage flag explicitly (SoftHSM2
 * defaults CKA_SENSITIVE to false and grants every usage but derive) and restricts
 * CKA_ALLOWED_MECHANISMS to the mechanisms of the key's usages.
 */
final class Templates {
  private Templates() {}

  static final long[] NO_MECHANISMS = new long[0];

  static long keyType(KeyAlgorithm a) {
    return a.isAes() ? CKK_AES : CKK_GENERIC_SECRET;
  }

  static long[] allowedMechanisms(KeySpec spec) {
    Set<KeyUsage> u = spec.usages();
    long[] m = new long[6];
    int n = 0;
    if (u.contains(KeyUsage.DERIVE)) {
      m[n++] = spec.algorithm() == KeyAlgorithm.EC_P256 ? CKM_ECDH1_DERIVE
          : CKM_AES_ECB_ENCRYPT_DATA;
    }
    if (u.contains(KeyUsage.WRAP) || u.contains(KeyUsage.UNWRAP)) {
      m[n++] = CKM_AES_KEY_WRAP;
      m[n++] = CKM_AES_KEY_WRAP_PAD;
    }
    if (u.contains(KeyUsage.ENCRYPT) || u.contains(KeyUsage.DECRYPT)) {
      m[n++] = CKM_AES_GCM;
    }
    if (u.contains(KeyUsage.SIGN) || u.contains(KeyUsage.VERIFY)) {
      m[n++] = spec.algorithm().isAes() ? CKM_AES_CMAC : CKM_SHA256_HMAC;
    }
    return Arrays.copyOf(m, n);
  }

  /** Attributes common to every key the adapter creates, without class/type/length. */
  private static AttributeVector usageAttributes(AttributeVector t, KeySpec spec,
      boolean deriveTemplate) {
    Set<KeyUsage> u = spec.usages();
    t.private_(true)
        .sensitive(true)
        .extractable(spec.extractable())
        .decrypt(u.contains(KeyUsage.DECRYPT))
        .unwrap(u.contains(KeyUsage.UNWRAP))
        .sign(u.contains(KeyUsage.SIGN))
        .derive(u.contains(KeyUsage.DERIVE))
        .allowedMechanisms(allowedMechanisms(spec));
    if (spec.algorithm() != KeyAlgorithm.EC_P256) {
      // Secret keys only: on a private key these attributes are invalid.
      t.encrypt(u.contains(KeyUsage.ENCRYPT)).wrap(u.contains(KeyUsage.WRAP))
          .verify(u.contains(KeyUsage.VERIFY));
    }
    if (deriveTemplate && u.contains(KeyUsage.DERIVE)) {
      // Real HSMs: whatever is derived from this key must stay sensitive. SoftHSM2 aborts on it.
      t.deriveTemplate(new AttributeVector().sensitive(true));
    }
    return t;
  }

  /** A per-request session key made by C_DeriveKey or C_GenerateKey. */
  static AttributeVector sessionKey(KeySpec spec, boolean deriveTemplate) {
    AttributeVector t = AttributeVector.newSecretKey(keyType(spec.algorithm()))
        .token(false)
        .valueLen(spec.algorithm().lengthBytes());
    return usageAttributes(t, spec, deriveTemplate);
  }

  /** A per-request session key made by C_UnwrapKey: SoftHSM2 refuses CKA_VALUE_LEN here. */
  static AttributeVector unwrappedKey(KeySpec spec, boolean deriveTemplate) {
    AttributeVector t = AttributeVector.newSecretKey(keyType(spec.algorithm())).token(false);
    return usageAttributes(t, spec, deriveTemplate);
  }

  /**
   * A long-term token key generated inside the token: not modifiable, not copyable, and never
   * extractable, or (backup-capable) extractable only under a CKA_TRUSTED wrapping key.
   */
  static AttributeVector longTermKey(String tokenLabel, KeySpec spec, boolean deriveTemplate,
      boolean backupCapable) {
    AttributeVector t = AttributeVector.newSecretKey(keyType(spec.algorithm()))
        .token(true)
        .label(tokenLabel)
        .valueLen(spec.algorithm().lengthBytes())
        .modifiable(false)
        .copyable(false);
    usageAttributes(t, spec, deriveTemplate);
    return backupCapable ? t.extractable(true).wrapWithTrusted(true) : t;
  }

  /**
   * A long-term key restored from a backup by C_UnwrapKey into the token (no CKA_VALUE_LEN: SoftHSM2
   * refuses it there): like {@link #longTermKey}, but it cannot be CKA_LOCAL.
   */
  static AttributeVector restoredLongTermKey(String tokenLabel, KeySpec spec,
      boolean deriveTemplate, boolean backupCapable) {
    AttributeVector t = AttributeVector.newSecretKey(keyType(spec.algorithm()))
        .token(true)
        .label(tokenLabel)
        .copyable(false);
    usageAttributes(t, spec, deriveTemplate);
    if (backupCapable) {
      t.extractable(true).wrapWithTrusted(true);
    }
    // Last: SoftHSM2 applies an unwrap template in order, and once CKA_MODIFIABLE=false is
    // applied it refuses every later attribute of the template with CKR_ATTRIBUTE_READ_ONLY.
    return t.modifiable(false);
  }

  /** DER of the P-256 OID 1.2.840.10045.3.1.7, for CKA_EC_PARAMS. */
  private static final byte[] P256_PARAMS = {
    0x06, 0x08, 0x2A, (byte) 0x86, 0x48, (byte) 0xCE, 0x3D, 0x03, 0x01, 0x07
  };

  /** An ephemeral P-256 key pair: the private half only derives (ECDH), never leaves. */
  static KeyPairTemplate ephemeralEcKeyPair(KeySpec privateSpec) {
    KeyPairTemplate t = new KeyPairTemplate(CKK_EC);
    t.publicKey().token(false).ecParams(P256_PARAMS).verify(false).encrypt(false).wrap(false)
        .derive(false);
    usageAttributes(t.privateKey().token(false), privateSpec, false)
        .sensitive(true).extractable(false);
    return t;
  }

  /** DER of the Ed25519 OID 1.3.101.112 (RFC 8410), for CKA_EC_PARAMS. */
  static final byte[] ED25519_PARAMS = {0x06, 0x03, 0x2B, 0x65, 0x70};

  /**
   * The audit log's Ed25519 signing key pair: token objects; the private half sensitive, never
   * extractable, unmodifiable, sign-only and restricted to CKM_EDDSA.
   */
  static KeyPairTemplate ed25519SigningKeyPair(String label) {
    KeyPairTemplate t = new KeyPairTemplate(CKK_EC_EDWARDS);
    t.publicKey().token(true).label(label).ecParams(ED25519_PARAMS).verify(true).encrypt(false)
        .wrap(false).derive(false).modifiable(false);
    t.privateKey().token(true).label(label).private_(true).sensitive(true).extractable(false)
        .sign(true).decrypt(false).unwrap(false).derive(false).modifiable(false)
        .allowedMechanisms(new long[] {CKM_EDDSA});
    return t;
  }

  /** A test key imported in the clear as a session object (conformance self-test only). */
  static AttributeVector importedSessionKey(long keyType, byte[] value, KeySpec spec) {
    AttributeVector t = AttributeVector.newSecretKey(keyType).token(false).value(value);
    return usageAttributes(t, spec, false);
  }
}
