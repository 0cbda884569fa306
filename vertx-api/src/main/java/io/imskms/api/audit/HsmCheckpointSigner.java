package io.imskms.api.audit;

import io.imskms.audit.CheckpointSigner;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import java.util.Objects;

/**
 * Signs audit checkpoints with the Ed25519 key pair in the token ({@link Hsm#signEd25519},
 * CKM_EDDSA). The private key never leaves the token; kms-audit sees only this interface.
 *
 * <p>Security guarantees: signs exactly the bytes given, with pure Ed25519, under the key pair
 * labelled {@code label}; the public key is read once, when this is made.
 */
public final class HsmCheckpointSigner implements CheckpointSigner {
  private final Hsm hsm;
  private final String name;
  private final String label;
  private final byte[] publicKey;

  /**
   * @param hsm the adapter (logged in)
   * @param name the signed-note key name (the log's origin)
   * @param label the key pair's CKA_LABEL
   * @throws HsmException the key pair is not in the token, or the token is unavailable
   */
  public HsmCheckpointSigner(Hsm hsm, String name, String label) throws HsmException {
    this.hsm = Objects.requireNonNull(hsm);
    this.name = Objects.requireNonNull(name);
    this.label = Objects.requireNonNull(label);
    this.publicKey = hsm.ed25519PublicKey(label);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public byte[] publicKey() {
    return publicKey.clone();
  }

  @Override
  public byte[] sign(byte[] message) throws SigningException {
    try {
      return hsm.signEd25519(label, message);
    } catch (HsmException | RuntimeException e) {
      throw new SigningException("HSM signature with " + label + " failed: " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return "HsmCheckpointSigner[" + name + ", key " + label + "]";
  }
}
