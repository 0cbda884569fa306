package io.imskms.core.keys;

import io.imskms.core.records.MacedRecordStore;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import java.io.IOException;

/**
 * Where the {@link KeyLifecycle} lives: a private token data object {@value #OBJECT_LABEL} in the
 * token that holds the keys, in the chunk format of {@link
 * io.imskms.core.records.MacedRecordStore} (one chunk; the single-object format of before,
 * {@code tag(32) ‖ document}, is still read), with tag = HMAC-SHA-256 under the token key
 * {@value #MAC_LABEL}{@code #v1} (generated in the token, never extractable) over
 * {@value #MAC_CONTEXT_TEXT}, the chunking and the document. A document changed by anything but
 * the KMS through the HSM (an edit of the token files, a value written with a PKCS#11 tool without
 * the MAC key) fails verification, and the KMS keeps its last good state.
 *
 * <p>Security guarantees: integrity and origin of the document against whoever lacks the user
 * PIN; a PIN holder can write any state (as they can use any key). A removed document is refused
 * while its MAC key is in the token. Not against rollback: a copy of the token files from before
 * a change restores that change's predecessor, and removing both the document and the MAC key
 * resets every purpose to the default states; a running reader refuses a lower
 * {@linkplain KeyLifecycle#sequence sequence} than it has seen.
 */
public final class KeyLifecycleStore {
  /** The data object's label. */
  public static final String OBJECT_LABEL = "kms-key-states";
  /** The label (without version) of the HMAC key that authenticates the document. */
  public static final String MAC_LABEL = "kms-state-mac";
  static final String MAC_CONTEXT_TEXT = "imskms-key-states-v1";

  private final MacedRecordStore<KeyLifecycle> store;

  public KeyLifecycleStore(Hsm hsm) {
    this.store = new MacedRecordStore<>(hsm, OBJECT_LABEL, MAC_LABEL, MAC_CONTEXT_TEXT,
        new MacedRecordStore.Codec<>() {
          @Override
          public KeyLifecycle decode(byte[] bytes) throws IOException {
            return KeyLifecycle.decode(bytes);
          }

          @Override
          public byte[] encode(KeyLifecycle doc) {
            return doc.encode();
          }

          @Override
          public long sequence(KeyLifecycle doc) {
            return doc.sequence();
          }
        }, KeyLifecycle.NONE);
  }

  /**
   * The document in the token, or {@link KeyLifecycle#NONE} if there is none yet. Verifies the
   * MAC only when the bytes changed since the last read (a poll of an unchanged document costs one
   * object search and one attribute read).
   *
   * @throws HsmIntegrityException if an object does not verify, does not parse, or the MAC key is
   *     missing while a document exists
   * @throws HsmException if the token cannot be read
   */
  public KeyLifecycle read() throws HsmException {
    return store.read();
  }

  /**
   * Writes {@code doc} (generating the MAC key in the token first if there is none). The caller
   * has read the current document and increased its sequence.
   */
  void write(KeyLifecycle doc) throws HsmException {
    store.write(doc);
  }
}
