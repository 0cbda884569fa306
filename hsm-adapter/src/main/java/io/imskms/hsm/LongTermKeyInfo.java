package io.imskms.hsm;

import java.util.Objects;

/**
 * A long-term key as it is recorded: label, version, spec, and its key check value (KCV), a
 * 16-hex-digit fingerprint computed inside the HSM from which nothing about the key can be learned
 * (see docs/architecture.md). Safe to print and to store in a manifest.
 */
public final class LongTermKeyInfo {
  private final KeyRef ref;
  private final String kcv;
  private final boolean backupCapable;
  private final boolean restored;

  public LongTermKeyInfo(KeyRef ref, String kcv) {
    this(ref, kcv, false, false);
  }

  /**
   * @param backupCapable extractable, but only under a CKA_TRUSTED key (CKA_WRAP_WITH_TRUSTED)
   * @param restored not generated in this token (restored from a backup; admitted by its KCV)
   */
  public LongTermKeyInfo(KeyRef ref, String kcv, boolean backupCapable, boolean restored) {
    this.ref = Objects.requireNonNull(ref);
    this.kcv = Objects.requireNonNull(kcv);
    this.backupCapable = backupCapable;
    this.restored = restored;
  }

  /** Extractable, but only wrapped under a trusted key (the backup ceremony's KEK). */
  public boolean backupCapable() {
    return backupCapable;
  }

  /** Restored from a backup into this token rather than generated in it. */
  public boolean restored() {
    return restored;
  }

  public KeyRef ref() {
    return ref;
  }

  public String label() {
    return ref.label();
  }

  public int version() {
    return ref.version();
  }

  public KeySpec spec() {
    return ref.spec();
  }

  public String kcv() {
    return kcv;
  }

  @Override
  public String toString() {
    return ref.label() + " v" + ref.version() + " " + ref.spec() + " kcv=" + kcv
        + (backupCapable ? " backup-capable" : "") + (restored ? " restored" : "");
  }
}
