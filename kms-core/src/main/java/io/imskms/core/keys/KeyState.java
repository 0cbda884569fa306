package io.imskms.core.keys;

import java.util.Locale;
import java.util.Optional;

/**
 * The lifecycle state of one version of a long-term key (docs/architecture.md, "Key lifecycle").
 * Transitions: ACTIVE ⇄ DECRYPT_ONLY, either → RETIRED; RETIRED is final.
 */
public enum KeyState {
  /** Used for new B-TIDs, tickets and media keys; exactly one version per purpose. */
  ACTIVE,
  /** Accepted in incoming messages that name it; never used for new ones. */
  DECRYPT_ONLY,
  /** Refused: a message that names it fails with KEY_RETIRED. Final. */
  RETIRED;

  /** The name operators type and see: {@code active}, {@code decrypt-only}, {@code retired}. */
  public String cliName() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** The state named {@code name} as {@link #cliName()} spells it, if any. */
  public static Optional<KeyState> ofCliName(String name) {
    for (KeyState s : values()) {
      if (s.cliName().equals(name)) {
        return Optional.of(s);
      }
    }
    return Optional.empty();
  }

  /** Whether an operator may move a version from this state to {@code to}. */
  public boolean mayBecome(KeyState to) {
    return this != RETIRED && to != this;
  }
}
