package io.imskms.core.bootstrap;

import io.imskms.core.KmsException;
import io.imskms.hsm.HsmSession;

/**
 * Steps 1a/1b/1m: how a principal comes to share a session key with the KMS, and how the KMS gets
 * that key back later from a B-TID alone.
 *
 * <p>Security guarantees: {@link #recover} returns a key only for a B-TID this KMS (or the
 * bootstrapping server it stands for) issued, unaltered and unexpired; the key exists only as a
 * sensitive HSM session object of {@code session}.
 *
 * <p>This KMS's own method is {@link KmsBootstrapper}. A 3GPP GBA BSF (TS 33.220) can replace it:
 * the UE then bootstraps with the BSF over Ub and the KMS acts as a NAF; {@code bootstrap} is not
 * served, and {@code recover} asks the BSF over Zn for Ks_NAF = KDF(Ks, FC=0x01, P0="gba-me",
 * P1=RAND, P2=IMPI, P3=NAF_Id) (HMAC-SHA-256, TS 33.220 Annex B), which the BSF must send wrapped
 * under a transport key the HSM holds so that it enters the HSM with C_UnwrapKey and never exists
 * in clear in the KMS process. See docs/protocol.md, "Replacing bootstrapping with GBA".
 */
public interface Bootstrapper {

  /** Serves a bootstrap request; returns the encoded response. */
  byte[] bootstrap(HsmSession session, byte[] request) throws KmsException;

  /**
   * Recovers the session key a B-TID stands for.
   *
   * @param wrappable whether the key must be exportable wrapped (Ka, which goes into the ticket)
   */
  BootstrappedKey recover(HsmSession session, byte[] btid, boolean wrappable) throws KmsException;
}
