package io.imskms.hsm;

/**
 * One borrowed PKCS#11 session: the unit of work against the HSM. Keys created through it are
 * session objects that are destroyed at the latest when it closes. Not thread-safe: one thread at
 * a time, and {@link #close()} on the thread that opened it.
 */
public interface HsmSession extends AutoCloseable {

  /**
   * Derives a new session key inside the HSM (C_DeriveKey) from {@code base}, which must allow
   * {@link KeyUsage#DERIVE}. The KDF is fixed and portable so a software peer can reproduce it:
   * {@code out = first L bytes of AES-ECB(base, SHA-256(context))}, i.e. each 16-byte output block
   * is AES of one half of the context hash, so every output byte depends on the whole context
   * (CKM_AES_ECB_ENCRYPT_DATA). L is the output algorithm's key length (16 or 32).
   */
  KeyRef deriveKey(KeyRef base, byte[] context, KeySpec spec) throws HsmException;

  /**
   * Derives like {@link #deriveKey} (same KDF, same checks), but hands the new key to the
   * adapter's bounded cache of shared keys under {@code name} (HsmConfig#sharedKeys), so that a
   * later session of the same module generation, on any thread, finds it with
   * {@link #findShared} instead of deriving it again. The key stays a non-token session object
   * with the spec's attributes; it is destroyed when evicted (least recently used first, never
   * while a session uses it), when found after {@code notAfterMillis}, or with the generation
   * (recycle, recovery, close). The reference returned is usable in this session until it
   * closes; {@link #destroy} and {@link #close} release it instead of destroying it. The caller
   * owns the meaning of the name: the same name must always mean the same base key, context and
   * spec. With the cache turned off this is {@code deriveKey}.
   */
  KeyRef deriveShared(KeyRef base, byte[] context, KeySpec spec, byte[] name, long notAfterMillis)
      throws HsmException;

  /**
   * The key shared under {@code name} by {@link #deriveShared} in this module generation, as a
   * reference usable in this session until it closes, or null (never shared, evicted, expired, a
   * re-initialised module, or the cache turned off). No PKCS#11 call.
   */
  KeyRef findShared(byte[] name) throws HsmException;

  /** Wraps {@code key} (extractable, 16/24/32 bytes) under {@code kek} (C_WrapKey). */
  byte[] wrapKey(KeyRef kek, KeyRef key, WrapMode mode) throws HsmException;

  /**
   * Unwraps a blob into a new session key (C_UnwrapKey). A blob that was not made with this KEK
   * (or was altered) fails with {@link HsmIntegrityException}.
   */
  KeyRef unwrapKey(KeyRef kek, byte[] wrapped, WrapMode mode, KeySpec spec) throws HsmException;

  /** AES-GCM encryption with a 12-byte IV and a 16-byte tag; returns ciphertext || tag. */
  byte[] encryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] plaintext) throws HsmException;

  /**
   * AES-GCM decryption with a 12-byte IV and a 16-byte tag. A wrong tag fails with
   * {@link HsmIntegrityException}.
   */
  byte[] decryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] ciphertextAndTag)
      throws HsmException;

  /** HMAC-SHA-256 (HMAC keys) or AES-CMAC (AES keys) of {@code data}; full-length tag. */
  byte[] sign(KeyRef key, byte[] data) throws HsmException;

  /** Verifies a full-length tag inside the HSM (C_Verify); a mismatch throws INTEGRITY. */
  void verify(KeyRef key, byte[] data, byte[] tag) throws HsmException;

  /** Random bytes from the token's generator (C_GenerateRandom). */
  byte[] random(int length) throws HsmException;

  /**
   * Generates a fresh random session key inside the HSM (C_GenerateKey), e.g. a per-message key
   * that is then wrapped for its recipients.
   */
  KeyRef generateKey(KeySpec spec) throws HsmException;

  /**
   * Generates an ephemeral P-256 key pair inside the HSM (session objects). The private half
   * never leaves the HSM and may only be used for {@link #deriveEcdh}; the public point is
   * returned uncompressed (65 bytes, 0x04 ‖ X ‖ Y).
   */
  EcKeyPair generateEcKeyPair() throws HsmException;

  /**
   * ECDH inside the HSM (CKM_ECDH1_DERIVE, CKD_NULL): the shared secret's X coordinate becomes a
   * new 32-byte session key of {@code spec} (AES-256; typically a DERIVE root for a KDF).
   *
   * @param peerPublicPoint the peer's uncompressed P-256 point (65 bytes)
   */
  KeyRef deriveEcdh(KeyRef privateKey, byte[] peerPublicPoint, KeySpec spec) throws HsmException;

  /**
   * Destroys a session key now rather than at {@link #close()}; a shared key is only released
   * (this session can no longer use it; the cache keeps it).
   */
  void destroy(KeyRef sessionKey) throws HsmException;

  /**
   * Destroys every session key created here, releases the shared keys used here, and returns the
   * PKCS#11 session to the pool.
   */
  @Override
  void close();
}
