package io.imskms.core.keys;

import io.imskms.hsm.LongTermKeyInfo;
import java.util.Objects;

/**
 * One version of one long-term key as {@link KeyRing#describe()} lists it (for {@code kms keys
 * list}): safe to print, it holds the key check value, never the key.
 *
 * @param purpose what the key is for
 * @param key label, version, spec and key check value as the token reports them
 * @param active whether this is the version new messages use
 */
public record KeyVersionInfo(KeyPurpose purpose, LongTermKeyInfo key, boolean active) {
  public KeyVersionInfo {
    Objects.requireNonNull(purpose, "purpose");
    Objects.requireNonNull(key, "key");
  }

  /** The token label without version, e.g. {@code kms-ticket-root}. */
  public String label() {
    return key.label();
  }

  /** The key's version. */
  public int version() {
    return key.version();
  }

  /** The 16-hex-digit key check value. */
  public String kcv() {
    return key.kcv();
  }

  @Override
  public String toString() {
    return purpose + " " + purpose.id(key.version()) + " kcv=" + key.kcv()
        + (active ? " (active)" : "");
  }
}
