package io.imskms.core.keys;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmMisconfigurationException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyNotFoundException;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Where the {@link KeyLifecycle} lives: a private token data object {@value #OBJECT_LABEL} in the
 * token that holds the keys, whose value is {@code tag(32) ‖ document}, with tag =
 * HMAC-SHA-256 under the token key {@value #MAC_LABEL}{@code #v1} (generated in the token, never
 * extractable) over {@value #MAC_CONTEXT_TEXT} ‖ document. A document changed by anything but
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
  private static final byte[] MAC_CONTEXT = MAC_CONTEXT_TEXT.getBytes(StandardCharsets.US_ASCII);
  private static final KeySpec MAC_SPEC =
      KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);

  private final Hsm hsm;
  private byte[] lastRaw = new byte[0];
  private KeyLifecycle lastRead = KeyLifecycle.NONE;

  public KeyLifecycleStore(Hsm hsm) {
    this.hsm = Objects.requireNonNull(hsm, "hsm");
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
  public synchronized KeyLifecycle read() throws HsmException {
    List<byte[]> values = hsm.readDataObjects(OBJECT_LABEL);
    if (values.isEmpty()) {
      // The MAC key is generated with the first record: a token that has it once had a record,
      // and a record that was removed must not silently bring retired versions back.
      try {
        hsm.findKey(MAC_LABEL, 1);
      } catch (KeyNotFoundException e) {
        return KeyLifecycle.NONE;
      }
      throw new HsmIntegrityException("the token holds the key lifecycle MAC key " + MAC_LABEL
          + "#v1 but no lifecycle record " + OBJECT_LABEL + ": it was removed; refusing to fall"
          + " back to default states");
    }
    KeyLifecycle best = null;
    byte[] bestRaw = null;
    for (byte[] raw : values) {
      KeyLifecycle doc = Arrays.equals(raw, lastRaw) ? lastRead : verify(raw);
      if (best == null || doc.sequence() > best.sequence()) {
        best = doc;
        bestRaw = raw;
      }
    }
    lastRaw = bestRaw;
    lastRead = best;
    return best;
  }

  private KeyLifecycle verify(byte[] raw) throws HsmException {
    if (raw.length <= 32) {
      throw new HsmIntegrityException("key lifecycle object " + OBJECT_LABEL + " is truncated");
    }
    byte[] doc = Arrays.copyOfRange(raw, 32, raw.length);
    KeyRef mac;
    try {
      mac = hsm.findKey(MAC_LABEL, 1);
    } catch (KeyNotFoundException e) {
      throw new HsmIntegrityException("key lifecycle object " + OBJECT_LABEL + " exists but its"
          + " MAC key " + MAC_LABEL + "#v1 is not in the token: refusing to trust it");
    }
    try (HsmSession s = hsm.openSession()) {
      s.verify(mac, macInput(doc), Arrays.copyOf(raw, 32));
    }
    try {
      return KeyLifecycle.decode(doc);
    } catch (IOException e) {
      throw new HsmIntegrityException("key lifecycle object " + OBJECT_LABEL
          + " verifies but does not parse: " + e.getMessage());
    }
  }

  /**
   * Writes {@code doc} (generating the MAC key in the token first if there is none). The caller
   * has read the current document and increased its sequence.
   */
  synchronized void write(KeyLifecycle doc) throws HsmException {
    KeyRef mac;
    try {
      mac = hsm.findKey(MAC_LABEL, 1);
    } catch (KeyNotFoundException e) {
      try {
        mac = hsm.generateLongTermKey(MAC_LABEL, 1, MAC_SPEC).ref();
      } catch (HsmPolicyException raced) {
        mac = hsm.findKey(MAC_LABEL, 1);
      }
    }
    if (!mac.spec().equals(MAC_SPEC)) {
      throw new HsmMisconfigurationException(MAC_LABEL + "#v1 is " + mac.spec() + ", not "
          + MAC_SPEC);
    }
    byte[] bytes = doc.encode();
    byte[] tag;
    try (HsmSession s = hsm.openSession()) {
      tag = s.sign(mac, macInput(bytes));
    }
    byte[] raw = new byte[32 + bytes.length];
    System.arraycopy(tag, 0, raw, 0, 32);
    System.arraycopy(bytes, 0, raw, 32, bytes.length);
    hsm.replaceDataObject(OBJECT_LABEL, raw);
    lastRaw = raw;
    lastRead = doc;
  }

  private static byte[] macInput(byte[] doc) {
    byte[] in = new byte[MAC_CONTEXT.length + doc.length];
    System.arraycopy(MAC_CONTEXT, 0, in, 0, MAC_CONTEXT.length);
    System.arraycopy(doc, 0, in, MAC_CONTEXT.length, doc.length);
    return in;
  }
}
