package io.imskms.core.keys;

import io.imskms.hsm.LongTermKeyInfo;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * One version of one long-term key as {@link KeyRing#describe()} lists it (for {@code kms keys
 * list}): safe to print, it holds the key check value, never the key.
 *
 * @param purpose what the key is for
 * @param key label, version, spec and key check value as the token reports them
 * @param state its lifecycle state as the ring last read it
 * @param created when it was generated or first recorded, if known
 * @param activated when it became active (for a staged rotation: when it will), if ever
 * @param retired when it was retired, if it is
 */
public record KeyVersionInfo(KeyPurpose purpose, LongTermKeyInfo key, KeyState state,
    Optional<Instant> created, Optional<Instant> activated, Optional<Instant> retired) {
  public KeyVersionInfo {
    Objects.requireNonNull(purpose, "purpose");
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(state, "state");
    Objects.requireNonNull(created, "created");
    Objects.requireNonNull(activated, "activated");
    Objects.requireNonNull(retired, "retired");
  }

  /** Whether this is the version new messages use. */
  public boolean active() {
    return state == KeyState.ACTIVE;
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
    return purpose + " " + purpose.id(key.version()) + " kcv=" + key.kcv() + " "
        + state.cliName();
  }
}
