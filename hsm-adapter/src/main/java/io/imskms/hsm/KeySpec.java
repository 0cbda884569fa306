package io.imskms.hsm;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What a key is: algorithm, usages and whether it may leave the HSM wrapped. A plain value that is
 * safe to print; it never holds key material. Every key the adapter creates is CKA_SENSITIVE=true;
 * {@code extractable} only allows the key to leave the HSM through C_WrapKey.
 */
public final class KeySpec {
  private final KeyAlgorithm algorithm;
  private final Set<KeyUsage> usages;
  private final boolean extractable;

  private KeySpec(KeyAlgorithm algorithm, Set<KeyUsage> usages, boolean extractable) {
    this.algorithm = Objects.requireNonNull(algorithm, "algorithm");
    if (usages.isEmpty()) {
      throw new IllegalArgumentException("a key needs at least one usage");
    }
    if (algorithm == KeyAlgorithm.HMAC_SHA256) {
      for (KeyUsage u : usages) {
        if (u != KeyUsage.SIGN && u != KeyUsage.VERIFY) {
          throw new IllegalArgumentException("an HMAC key may only sign and verify, not " + u);
        }
      }
    }
    if (algorithm == KeyAlgorithm.EC_P256
        && (!usages.equals(EnumSet.of(KeyUsage.DERIVE)) || extractable)) {
      throw new IllegalArgumentException("an EC key may only derive (ECDH) and never leaves");
    }
    this.usages = Collections.unmodifiableSet(EnumSet.copyOf(usages));
    this.extractable = extractable;
  }

  public static KeySpec of(KeyAlgorithm algorithm, Set<KeyUsage> usages) {
    return new KeySpec(algorithm, usages, false);
  }

  public static KeySpec of(KeyAlgorithm algorithm, KeyUsage first, KeyUsage... rest) {
    return new KeySpec(algorithm, EnumSet.of(first, rest), false);
  }

  /** The same spec, but the key may be exported wrapped (CKA_EXTRACTABLE=true, still sensitive). */
  public KeySpec wrappable() {
    return new KeySpec(algorithm, usages, true);
  }

  public KeyAlgorithm algorithm() {
    return algorithm;
  }

  public Set<KeyUsage> usages() {
    return usages;
  }

  public boolean allows(KeyUsage usage) {
    return usages.contains(usage);
  }

  public boolean extractable() {
    return extractable;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof KeySpec
        && ((KeySpec) o).algorithm == algorithm
        && ((KeySpec) o).usages.equals(usages)
        && ((KeySpec) o).extractable == extractable;
  }

  @Override
  public int hashCode() {
    return Objects.hash(algorithm, usages, extractable);
  }

  @Override
  public String toString() {
    return algorithm + usages.toString() + (extractable ? "+wrappable" : "");
  }
}
