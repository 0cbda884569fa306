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

  public LongTermKeyInfo(KeyRef ref, String kcv) {
    this.ref = Objects.requireNonNull(ref);
    this.kcv = Objects.requireNonNull(kcv);
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
    return ref.label() + " v" + ref.version() + " " + ref.spec() + " kcv=" + kcv;
  }
}
