package io.imskms.core.records;

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
 * A small document shared by every node that uses a token, kept in that token: a private token
 * data object whose value is {@code tag(32) ‖ document}, tag = HMAC-SHA-256 under a token key
 * {@code macLabel#v1} (generated in the token with the first document, never extractable) over
 * {@code macContext ‖ document}. The key lifecycle ({@link KeyLifecycleStore}) and the revoked and
 * re-enrolled principals ({@code io.imskms.core.principals}) each have one, under their own
 * label, MAC key and context.
 *
 * <p>Security guarantees: integrity and origin of the document against whoever lacks the user
 * PIN; a PIN holder can write anything (as they can use any key). A document changed by anything
 * but this class through the HSM fails verification. A removed document is refused while its MAC
 * key is in the token (no silent fall-back to the empty document). Not against rollback: a copy
 * of the token files from before a change restores its predecessor; a running reader refuses a
 * lower sequence than it has seen (the callers check it).
 *
 * @param <T> the document type
 */
public final class MacedRecordStore<T> {
  /** How documents are encoded and ordered. */
  public interface Codec<T> {
    /** Parses a verified document (the message of the exception must not echo the bytes). */
    T decode(byte[] bytes) throws IOException;

    byte[] encode(T doc);

    /** Grows with every write; of two complete objects, the higher wins. */
    long sequence(T doc);
  }

  private static final KeySpec MAC_SPEC =
      KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);

  private final Hsm hsm;
  private final String objectLabel;
  private final String macLabel;
  private final byte[] macContext;
  private final Codec<T> codec;
  private final T none;
  private byte[] lastRaw = new byte[0];
  private T lastRead;

  /**
   * @param none the document of a token that never had one (returned when neither the object nor
   *     its MAC key exists)
   */
  public MacedRecordStore(Hsm hsm, String objectLabel, String macLabel, String macContext,
      Codec<T> codec, T none) {
    this.hsm = Objects.requireNonNull(hsm, "hsm");
    this.objectLabel = Objects.requireNonNull(objectLabel, "objectLabel");
    this.macLabel = Objects.requireNonNull(macLabel, "macLabel");
    this.macContext = macContext.getBytes(StandardCharsets.US_ASCII);
    this.codec = Objects.requireNonNull(codec, "codec");
    this.none = Objects.requireNonNull(none, "none");
    this.lastRead = none;
  }

  /** The data object's label. */
  public String objectLabel() {
    return objectLabel;
  }

  /**
   * The document in the token, or {@code none} if there is none yet. Verifies the MAC only when
   * the bytes changed since the last read (a poll of an unchanged document costs one object
   * search and one attribute read).
   *
   * @throws HsmIntegrityException if an object does not verify, does not parse, or the MAC key
   *     exists while no document does (removed)
   * @throws HsmException if the token cannot be read
   */
  public synchronized T read() throws HsmException {
    List<byte[]> values = hsm.readDataObjects(objectLabel);
    if (values.isEmpty()) {
      // The MAC key is generated with the first document: a token that has it once had one, and
      // a document that was removed must not silently bring back the empty state.
      try {
        hsm.findKey(macLabel, 1);
      } catch (KeyNotFoundException e) {
        return none;
      }
      throw new HsmIntegrityException("the token holds the MAC key " + macLabel + "#v1 but no "
          + objectLabel + " record: it was removed; refusing to fall back to an empty record");
    }
    T best = null;
    byte[] bestRaw = null;
    for (byte[] raw : values) {
      T doc = Arrays.equals(raw, lastRaw) ? lastRead : verify(raw);
      if (best == null || codec.sequence(doc) > codec.sequence(best)) {
        best = doc;
        bestRaw = raw;
      }
    }
    lastRaw = bestRaw;
    lastRead = best;
    return best;
  }

  private T verify(byte[] raw) throws HsmException {
    if (raw.length <= 32) {
      throw new HsmIntegrityException("record " + objectLabel + " is truncated");
    }
    byte[] doc = Arrays.copyOfRange(raw, 32, raw.length);
    KeyRef mac;
    try {
      mac = hsm.findKey(macLabel, 1);
    } catch (KeyNotFoundException e) {
      throw new HsmIntegrityException("record " + objectLabel + " exists but its MAC key "
          + macLabel + "#v1 is not in the token: refusing to trust it");
    }
    try (HsmSession s = hsm.openSession()) {
      s.verify(mac, macInput(doc), Arrays.copyOf(raw, 32));
    }
    try {
      return codec.decode(doc);
    } catch (IOException e) {
      throw new HsmIntegrityException("record " + objectLabel + " verifies but does not parse: "
          + e.getMessage());
    }
  }

  /**
   * Writes {@code doc} (generating the MAC key in the token first if there is none). The caller
   * has read the current document and increased its sequence.
   */
  public synchronized void write(T doc) throws HsmException {
    KeyRef mac;
    try {
      mac = hsm.findKey(macLabel, 1);
    } catch (KeyNotFoundException e) {
      try {
        mac = hsm.generateLongTermKey(macLabel, 1, MAC_SPEC).ref();
      } catch (HsmPolicyException raced) {
        mac = hsm.findKey(macLabel, 1);
      }
    }
    if (!mac.spec().equals(MAC_SPEC)) {
      throw new HsmMisconfigurationException(macLabel + "#v1 is " + mac.spec() + ", not "
          + MAC_SPEC);
    }
    byte[] bytes = codec.encode(doc);
    byte[] tag;
    try (HsmSession s = hsm.openSession()) {
      tag = s.sign(mac, macInput(bytes));
    }
    byte[] raw = new byte[32 + bytes.length];
    System.arraycopy(tag, 0, raw, 0, 32);
    System.arraycopy(bytes, 0, raw, 32, bytes.length);
    hsm.replaceDataObject(objectLabel, raw);
    lastRaw = raw;
    lastRead = doc;
  }

  private byte[] macInput(byte[] doc) {
    byte[] in = new byte[macContext.length + doc.length];
    System.arraycopy(macContext, 0, in, 0, macContext.length);
    System.arraycopy(doc, 0, in, macContext.length, doc.length);
    return in;
  }
}
