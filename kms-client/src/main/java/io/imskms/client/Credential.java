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
  private final int generation;
  private final SecretBytes kp;

  /** A credential of generation 0 (the principal was never re-enrolled). */
  public Credential(Role role, String id, int credVersion, SecretBytes kp) {
    this(role, id, credVersion, 0, kp);
  }

  /**
   * A credential of {@code generation}: 0 for a first enrolment, n after the operator re-enrolled
   * the principal n times (docs/protocol.md §5.1). Carried in bootstrap requests.
   */
  public Credential(Role role, String id, int credVersion, int generation, SecretBytes kp) {
    this.role = Objects.requireNonNull(role);
    this.id = Objects.requireNonNull(id);
    this.credVersion = credVersion;
    if (generation < 0) {
      throw new IllegalArgumentException("credential generation must not be negative");
    }
    this.generation = generation;
    this.kp = Objects.requireNonNull(kp);
  }

  /** The credential's generation (0 unless the principal was re-enrolled). */
  public int generation() {
    return generation;
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
    return "Credential[" + role + " " + id + " v" + credVersion
        + (generation == 0 ? "" : " generation " + generation) + "]";
  }
}
