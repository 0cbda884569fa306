package io.imskms.core.principals;

import io.imskms.core.KmsException;
import io.imskms.protocol.ErrorCode;

/**
 * What the protocol asks about a principal's standing (docs/architecture.md, "Devices"): whether
 * it is revoked, and which credential generation is current. Answered from memory, never from the
 * HSM per request.
 */
public interface Principals {
  /** The generation a new enrolment of {@code id} gets (0 unless it was re-enrolled). */
  int generation(String id);

  /** Whether the operator revoked {@code id}. */
  boolean revoked(String id);

  /**
   * Refuses a revoked principal, and a credential or B-TID of another generation than the
   * current one (a re-enrolment made it useless), with PRINCIPAL_REVOKED.
   */
  default void check(String id, int generation) throws KmsException {
    if (revoked(id)) {
      throw new KmsException(ErrorCode.PRINCIPAL_REVOKED, "principal revoked");
    }
    if (generation != generation(id)) {
      throw new KmsException(ErrorCode.PRINCIPAL_REVOKED,
          "credential generation superseded by a re-enrolment");
    }
  }

  /** Nobody revoked, everyone at generation 0 (a KMS without a principal record). */
  Principals NONE = new Principals() {
    @Override
    public int generation(String id) {
      return 0;
    }

    @Override
    public boolean revoked(String id) {
      return false;
    }

    @Override
    public String toString() {
      return "Principals.NONE";
    }
  };
}
