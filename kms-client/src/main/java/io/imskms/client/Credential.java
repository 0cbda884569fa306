package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.Role;
import java.util.Objects;

/**
 * A principal's long-term credential Kp, obtained once at enrolment. Prints only who it belongs to.
 */
public final class Credential {
  private final Role role;
  private final String id;
  private final int credVersion;
  private final SecretBytes kp;

  public Credential(Role role, String id, int credVersion, SecretBytes kp) {
    this.role = Objects.requireNonNull(role);
    this.id = Objects.requireNonNull(id);
    this.credVersion = credVersion;
    this.kp = Objects.requireNonNull(kp);
  }

  public Role role() {
    return role;
  }

  public String id() {
    return id;
  }

  public int credVersion() {
    return credVersion;
  }

  SecretBytes kp() {
    return kp;
  }

  /** Kauth = KDF(Kp, auth()), the HMAC key of the bootstrap proof and of the KMS's answer. */
  SecretBytes kauth() {
    return SoftwareCrypto.kdf256(kp, Contexts.auth());
  }

  @Override
  public String toString() {
    return "Credential[" + role + " " + id + " v" + credVersion + "]";
  }
}
