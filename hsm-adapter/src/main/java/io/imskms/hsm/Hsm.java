package io.imskms.hsm;

import java.util.List;

/**
 * The one door through which the KMS uses its HSM.
 *
 * <p>Security guarantees: no method returns the plaintext value of a secret key. Long-term keys are
 * generated inside the token (CKA_SENSITIVE=true, CKA_EXTRACTABLE=false, CKA_TOKEN=true) and are
 * only ever named by label and version. Per-request keys are session objects created inside an
 * {@link HsmSession} and destroyed when it closes; they leave the HSM only through
 * {@link HsmSession#wrapKey}. Every template sets CKA_SENSITIVE and every usage flag explicitly
 * and restricts CKA_ALLOWED_MECHANISMS to the key's purpose.
 *
 * <p>Availability: an operation that fails because the token is gone, the module was finalized or
 * the session broke throws {@link HsmUnavailableException}; the adapter re-initialises the module,
 * logs in again, re-finds its long-term keys and checks their key check values, without a JVM
 * restart. Session references from before a re-initialisation are refused.
 */
public interface Hsm extends AutoCloseable {

  /**
   * Borrows a PKCS#11 session for one unit of work (typically one request). Waits at most the
   * configured borrow timeout. The returned session must be used by one thread at a time and
   * closed by the thread that opened it (try-with-resources).
   */
  HsmSession openSession() throws HsmException;

  /** Resolves a long-term token key by label and version; its spec is read from the token. */
  KeyRef findKey(String label, int version) throws HsmException;

  /**
   * Generates a long-term key inside the token (CKA_TOKEN=true, sensitive, never extractable,
   * local; or, with {@link HsmConfig#backupCapableKeys()}, extractable only under a CKA_TRUSTED
   * key, for a backup ceremony: {@link KeyCeremony}). Long-term keys are DERIVE roots (AES) or
   * MAC keys; other usages are derived per request. Refuses a label and version that already
   * exist.
   */
  LongTermKeyInfo generateLongTermKey(String label, int version, KeySpec spec) throws HsmException;

  /** Every long-term key of this KMS in the token, with its key check value. */
  List<LongTermKeyInfo> listLongTermKeys() throws HsmException;

  /**
   * Generates an Ed25519 key pair in the token for signing audit checkpoints
   * (CKM_EC_EDWARDS_KEY_PAIR_GEN): both halves token objects labelled {@code label}; the private
   * key sensitive, never extractable, unmodifiable, allowed only CKM_EDDSA and only to sign.
   * Refuses a label that already exists.
   *
   * @return the raw 32-byte public key (RFC 8032 encoding)
   */
  byte[] generateEd25519Key(String label) throws HsmException;

  /**
   * The raw 32-byte public key of the Ed25519 key pair {@code label} (from CKA_EC_POINT);
   * {@link KeyNotFoundException} if there is none. Refuses a private key that is not sensitive,
   * was ever extractable, or was not generated in the token.
   */
  byte[] ed25519PublicKey(String label) throws HsmException;

  /** Pure Ed25519 (CKM_EDDSA, no pre-hash, no context) of {@code message}: 64 bytes. */
  byte[] signEd25519(String label, byte[] message) throws HsmException;

  /**
   * The values of every private token data object (CKO_DATA, CKA_TOKEN=true, CKA_PRIVATE=true)
   * labelled {@code label}, in no particular order; empty if there is none. Normally there is at
   * most one; two are seen only while {@link #replaceDataObject} runs in another process, or after
   * it was interrupted between its two steps. The values are not secret to the PIN holder but are
   * readable only after login; their integrity is the caller's to check.
   */
  List<byte[]> readDataObjects(String label) throws HsmException;

  /**
   * Stores {@code value} as the private token data object {@code label}: first creates the new
   * object, then destroys every other data object with that label, so that a reader in any
   * process always finds at least one complete value (the old, the new, or both). The same as
   * {@link #replaceDataObjects} with one value.
   */
  default void replaceDataObject(String label, byte[] value) throws HsmException {
    if (value == null) {
      throw new HsmPolicyException("no data object value");
    }
    replaceDataObjects(label, List.of(value));
  }

  /**
   * Stores {@code values} as private token data objects all labelled {@code label}: first creates
   * every new object (in list order), then destroys every data object with that label that
   * existed before, so that a reader in any process always finds the complete old set, the
   * complete new set, or both, possibly next to a partly created new set (a reader that needs all
   * of a set must tell the sets apart by their content: the token has no transactions). Each
   * value holds 1..65536 bytes and a call stores 1..1024 values; a PKCS#11 token may limit an
   * object's size further. If a creation fails, the objects this call created are destroyed (best
   * effort) and the old set stays.
   */
  void replaceDataObjects(String label, List<byte[]> values) throws HsmException;

  /** What the token offers, detected at start-up. */
  HsmCapabilities capabilities();

  /** Readiness, module generation and counters; never blocks on the token. */
  HsmStatus status();

  /**
   * Recycles the module: waits for sessions in flight to close, then C_Finalize, C_Initialize,
   * login, re-find keys (checking key check values) and resume. Returns releases SoftHSM2's native
   * memory held for destroyed session objects. Callers waiting in {@link #openSession} are delayed,
   * not failed.
   */
  void recycle() throws HsmException;

  /** Counts live session objects in the token (C_FindObjects with CKA_TOKEN=false; O(n)). */
  long countSessionObjects() throws HsmException;

  @Override
  void close();
}
