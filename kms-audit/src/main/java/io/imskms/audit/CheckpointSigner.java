package io.imskms.audit;

/**
 * Signs checkpoints with an Ed25519 key. In the KMS the key lives in the HSM (generated there,
 * sensitive, never extractable) and this is a thin adapter over the HSM's CKM_EDDSA.
 *
 * <p>Security guarantees: an implementation signs exactly the bytes it is given with pure Ed25519
 * (RFC 8032, no pre-hash, no context) and never exposes the private key.
 */
public interface CheckpointSigner {

  /** The key name of the C2SP signed note; by this project's convention equal to the origin. */
  String name();

  /** The raw 32-byte Ed25519 public key. */
  byte[] publicKey();

  /** A 64-byte Ed25519 signature of {@code message}. */
  byte[] sign(byte[] message) throws SigningException;

  /** Signing failed (HSM unavailable, key gone); the message is safe to log. */
  final class SigningException extends Exception {
    public SigningException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
