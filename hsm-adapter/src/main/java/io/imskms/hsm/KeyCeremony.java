package io.imskms.hsm;

import java.util.Optional;

/**
 * One backup key ceremony: a key-encryption key (KEK) assembled inside the HSM from N key
 * components entered one by one by their custodians, used to export the long-term keys wrapped
 * (CKM_AES_KEY_WRAP_PAD) or to restore them into another token, and destroyed when the ceremony is
 * closed. The construction is in docs/architecture.md, "Backup and restore under dual control".
 *
 * <p>Security guarantees: no method returns a key value. Components are combined only inside the
 * HSM, each as soon as it is entered; the KEK and the file-MAC key are sensitive, never extractable
 * session objects of this process. For {@link Purpose#EXPORT} the KEK is made in a Security Officer
 * session with CKA_TRUSTED=true (the only kind of key that can wrap a backup-capable long-term key)
 * and may only wrap; for {@link Purpose#IMPORT} it may only unwrap. Not thread-safe: one ceremony,
 * one thread.
 */
public interface KeyCeremony extends AutoCloseable {
  /** The length of a component: an AES-256 key. */
  int COMPONENT_BYTES = 32;

  /** What the KEK is for. */
  enum Purpose {
    /** Wraps long-term keys out: made by the Security Officer, CKA_TRUSTED, WRAP only. */
    EXPORT,
    /** Restores a backup into this token: made in the user session, UNWRAP only. */
    IMPORT
  }

  /**
   * Sends the next component into the HSM and combines it with those before it; the caller wipes
   * its array afterwards.
   *
   * @return the component's key check value (16 hex digits), for its custodian to compare
   * @throws HsmPolicyException if it is not {@value #COMPONENT_BYTES} bytes, the KEK was already
   *     assembled, or it equals an earlier component
   */
  String addComponent(byte[] component) throws HsmException;

  /** How many components were entered. */
  int components();

  /**
   * Derives the KEK and the file-MAC key from the components (at least two). For EXPORT, the
   * Security Officer then logs out and the user logs in.
   *
   * @return the ceremony's key check value (that of the combined secret)
   */
  String assemble() throws HsmException;

  /**
   * Wraps the long-term key {@code label#vN} under the KEK (EXPORT).
   *
   * @throws KeyNotFoundException if there is no such key
   * @throws HsmPolicyException if the key cannot be exported: the message says why (e.g.
   *     CKA_EXTRACTABLE=false)
   */
  ExportedKey exportLongTermKey(String label, int version) throws HsmException;

  /** The key check value of the token key {@code label#vN}, empty if there is none. */
  Optional<String> tokenKeyKcv(String label, int version) throws HsmException;

  /**
   * Unwraps {@code wrapped} into a session key of {@code spec} only to compute its key check
   * value, then destroys it (IMPORT): nothing is stored.
   *
   * @throws HsmIntegrityException if the blob was not made under this KEK or was altered
   */
  String trialUnwrap(KeySpec spec, byte[] wrapped) throws HsmException;

  /**
   * Unwraps {@code wrapped} into the token as the long-term key {@code label#vN} (IMPORT):
   * sensitive, unmodifiable, not copyable, the usages of {@code spec}, and never extractable, or
   * with {@code backupCapable} extractable only under a trusted key. Its key check value must be
   * {@code expectedKcv}, or the new object is destroyed again.
   *
   * @throws HsmPolicyException if a key with that label exists
   * @throws HsmIntegrityException if the blob does not unwrap or the KCV differs
   */
  void restoreLongTermKey(String label, int version, KeySpec spec, byte[] wrapped,
      String expectedKcv, boolean backupCapable) throws HsmException;

  /** HMAC-SHA-256 of {@code data} under the file-MAC key derived from the KEK. */
  byte[] mac(byte[] data) throws HsmException;

  /**
   * Checks a tag made by {@link #mac}.
   *
   * @throws HsmIntegrityException if it does not match
   */
  void verifyMac(byte[] data, byte[] tag) throws HsmException;

  /** Destroys every object of the ceremony and closes its session. */
  @Override
  void close();

  /**
   * A long-term key wrapped for a backup: its key check value and the RFC 5649 blob. Safe to
   * print only the KCV.
   */
  record ExportedKey(KeySpec spec, String kcv, byte[] wrapped) {
    public ExportedKey {
      wrapped = wrapped.clone();
    }

    @Override
    public byte[] wrapped() {
      return wrapped.clone();
    }

    @Override
    public String toString() {
      return "ExportedKey[" + spec + ", kcv=" + kcv + ", " + wrapped.length + " bytes]";
    }
  }
}
