package io.imskms.core;

import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRetiredException;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.UnknownKeyVersionException;
import io.imskms.hsm.KeyRef;
import java.util.Objects;

/**
 * The long-term keys the protocol uses: the active version of each purpose for new messages, and
 * any version still held for messages made earlier (docs/architecture.md, "Key hierarchy"). In
 * production this is the {@link KeyRing} ({@link #of(KeyRing)}); the seam exists so the worked
 * examples of docs/protocol.md can run the same code over keys of known value.
 */
public interface LongTermKeys {
  /** The version new B-TIDs, tickets and media keys use. */
  int activeVersion(KeyPurpose purpose) throws KmsException;

  /**
   * The key of that purpose and version; UNKNOWN_KEY_VERSION if the token does not hold it,
   * KEY_RETIRED if the operator retired it.
   */
  KeyRef key(KeyPurpose purpose, int version) throws KmsException;

  /** The key ring's keys. */
  static LongTermKeys of(KeyRing ring) {
    Objects.requireNonNull(ring, "ring");
    return new LongTermKeys() {
      @Override
      public int activeVersion(KeyPurpose purpose) {
        return ring.activeVersion(purpose);
      }

      @Override
      public KeyRef key(KeyPurpose purpose, int version) throws KmsException {
        try {
          return ring.version(purpose, version);
        } catch (UnknownKeyVersionException e) {
          throw KmsException.of(e);
        } catch (KeyRetiredException e) {
          throw KmsException.of(e);
        }
      }

      @Override
      public String toString() {
        return "LongTermKeys[" + ring + "]";
      }
    };
  }
}
