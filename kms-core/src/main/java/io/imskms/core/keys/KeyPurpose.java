package io.imskms.core.keys;

import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import java.util.Optional;

/**
 * The long-term keys of the KMS, one per purpose (docs/architecture.md, "Key hierarchy"). Each is
 * kept in the token under {@code label#vN} for every version N, with exactly the spec given here.
 */
public enum KeyPurpose {
  /** Root of the per-principal credentials Kp (AES-256, DERIVE). */
  CRED_ROOT("kms-cred-root", KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE)),
  /** Integrity of B-TIDs (HMAC-SHA-256, SIGN and VERIFY). */
  BTID_MAC("kms-btid-mac", KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN,
      KeyUsage.VERIFY)),
  /** Kkms: root of the per-ticket KEKs (AES-256, DERIVE). */
  TICKET_ROOT("kms-ticket-root", KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE)),
  /** Root of the media keys K (AES-256, DERIVE). */
  MEDIA_ROOT("kms-media-root", KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE));

  private final String label;
  private final KeySpec spec;

  KeyPurpose(String label, KeySpec spec) {
    this.label = label;
    this.spec = spec;
  }

  /** The token label without the version, e.g. {@code kms-ticket-root}. */
  public String label() {
    return label;
  }

  /** The spec every version of this key has. */
  public KeySpec spec() {
    return spec;
  }

  /** The full token label of one version, e.g. {@code kms-ticket-root#v2}. */
  public String id(int version) {
    return label + "#v" + version;
  }

  /** The purpose whose label is {@code label} (without version), if any. */
  public static Optional<KeyPurpose> ofLabel(String label) {
    for (KeyPurpose p : values()) {
      if (p.label.equals(label)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }
}
