package io.imskms.core.replay;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * The name under which a (principal, nonce) pair is recorded, in process or in a shared store:
 * SHA-256("imskms/replay/v1" ‖ len(principal) as 4 bytes ‖ principal (UTF-8) ‖ nonce) truncated to
 * 128 bits. Domain-separated from every other hash of the KMS; the identity and the nonce cannot
 * be read back from it, and two pairs collide only with about 2^64 work.
 */
public final class ReplayDigest {
  /** The digest length in bytes. */
  public static final int LENGTH = 16;

  private static final byte[] DOMAIN = "imskms/replay/v1".getBytes(StandardCharsets.US_ASCII);
  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 missing from the JDK", e);
    }
  });

  private ReplayDigest() {}

  /** The full SHA-256 (32 bytes); the record's name is its first {@link #LENGTH} bytes. */
  static byte[] sha256(String principal, byte[] nonce) {
    MessageDigest md = SHA256.get();
    md.reset();
    byte[] p = principal.getBytes(StandardCharsets.UTF_8);
    md.update(DOMAIN);
    md.update(new byte[] {(byte) (p.length >>> 24), (byte) (p.length >>> 16),
        (byte) (p.length >>> 8), (byte) p.length});
    md.update(p);
    md.update(nonce);
    return md.digest();
  }

  /** The 16-byte digest of the pair. */
  public static byte[] of(String principal, byte[] nonce) {
    return Arrays.copyOf(sha256(principal, nonce), LENGTH);
  }
}
