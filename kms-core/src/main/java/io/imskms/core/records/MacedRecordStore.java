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
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A document shared by every node that uses a token, kept in that token as one or more private
 * token data objects ("chunks") under one label. Each chunk's value is
 * {@code "imskmsR2"(8) ‖ sequence(8) ‖ writeId(8) ‖ index(4) ‖ count(4) ‖ [tag(32), chunk 0 only]
 * ‖ part}; the parts, in index order, are the document. tag = HMAC-SHA-256 under a token key
 * {@code macLabel#v1} (generated in the token with the first document, never extractable) over
 * {@code macContext ‖ "imskmsR2" ‖ sequence ‖ writeId ‖ count ‖ document}: it covers the whole
 * document and the chunking, so no chunk can be changed, dropped, reordered or taken from another
 * write. A chunk holds at most {@link #CHUNK_BYTES} bytes; a document at most
 * {@link #MAX_CHUNKS} chunks. The key lifecycle ({@link KeyLifecycleStore}) and the revoked and
 * re-enrolled principals ({@code io.imskms.core.principals}) each have one, under their own
 * label, MAC key and context.
 *
 * <p>A write creates every chunk of the new document (a new sequence and a random write id)
 * before it destroys the old ones ({@link Hsm#replaceDataObjects}), so a reader sees the complete
 * old document, the complete new one, or both, possibly next to an incomplete new one. A reader
 * groups the chunks by (sequence, write id) and takes the highest complete group; a group with a
 * missing index or two different chunks at one index is incomplete. If no group is complete the
 * read is refused. A value without the "imskmsR2" marker is the single-object format written
 * before chunking ({@code tag(32) ‖ document}, tag over {@code macContext ‖ document}) and is
 * still read, so existing tokens keep working; the next write replaces it with chunks.
 *
 * <p>Security guarantees: integrity and origin of the document against whoever lacks the user
 * PIN; a PIN holder can write anything (as they can use any key). A document changed by anything
 * but this class through the HSM fails verification. A removed document is refused while its MAC
 * key is in the token (no silent fall-back to the empty document), and so is one with a chunk
 * missing. Not against rollback: a copy of the token files from before a change restores its
 * predecessor; a running reader refuses a lower sequence than it has seen (the callers check it).
 *
 * @param <T> the document type
 */
public final class MacedRecordStore<T> {
  /** How documents are encoded and ordered. */
  public interface Codec<T> {
    /** Parses a verified document (the message of the exception must not echo the bytes). */
    T decode(byte[] bytes) throws IOException;

    byte[] encode(T doc);

    /** Grows with every write; of two complete documents, the higher wins. */
    long sequence(T doc);
  }

  /**
   * Largest chunk value, header included: 32 KiB, half of what hsm-adapter accepts per object,
   * because tokens limit data objects differently (SoftHSM2 not at all, many HSMs at some tens of
   * KiB); see docs/architecture.md, "Devices".
   */
  public static final int CHUNK_BYTES = 32 * 1024;
  /** Most chunks of one document (hsm-adapter's limit per replacement): 32 MiB in all. */
  public static final int MAX_CHUNKS = 1024;

  private static final byte[] MAGIC = "imskmsR2".getBytes(StandardCharsets.US_ASCII);
  private static final int HEADER = 8 + 8 + 8 + 4 + 4;
  private static final int TAG = 32;
  private static final SecureRandom WRITE_IDS = new SecureRandom();

  private static final KeySpec MAC_SPEC =
      KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);

  private final Hsm hsm;
  private final String objectLabel;
  private final String macLabel;
  private final byte[] macContext;
  private final Codec<T> codec;
  private final T none;
  private List<byte[]> lastRaw = List.of();
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
   * search and one attribute read per chunk).
   *
   * @throws HsmIntegrityException if a document does not verify, does not parse, has a chunk
   *     missing or inconsistent, or the MAC key exists while no document does (removed)
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
    List<byte[]> bestRaw = null;
    Map<Group, Group> groups = new HashMap<>();
    for (byte[] raw : values) {
      if (!isChunk(raw)) {
        List<byte[]> one = List.of(raw);
        T doc = sameAsLast(one) ? lastRead : verifyLegacy(raw);
        if (best == null || codec.sequence(doc) > codec.sequence(best)) {
          best = doc;
          bestRaw = one;
        }
        continue;
      }
      Group key = parseHeader(raw);
      groups.computeIfAbsent(key, k -> k).add(key.firstIndex, key.count, raw);
    }
    Group chosen = null;
    for (Group g : groups.values()) {
      if (g.complete() && (chosen == null || g.compareTo(chosen) > 0)) {
        chosen = g;
      }
    }
    if (chosen != null) {
      List<byte[]> raw = Arrays.asList(chosen.chunks);
      T doc = sameAsLast(raw) ? lastRead : verifyChunks(chosen);
      if (best == null || codec.sequence(doc) > codec.sequence(best)) {
        best = doc;
        bestRaw = raw;
      }
    }
    if (best == null) {
      throw new HsmIntegrityException("record " + objectLabel + " is incomplete: " + values.size()
          + " chunk(s) but no complete, consistent set; refusing it");
    }
    lastRaw = bestRaw;
    lastRead = best;
    return best;
  }

  private boolean sameAsLast(List<byte[]> raw) {
    if (raw.size() != lastRaw.size()) {
      return false;
    }
    for (int i = 0; i < raw.size(); i++) {
      if (!Arrays.equals(raw.get(i), lastRaw.get(i))) {
        return false;
      }
    }
    return true;
  }

  private static boolean isChunk(byte[] raw) {
    return raw.length >= MAGIC.length
        && Arrays.equals(raw, 0, MAGIC.length, MAGIC, 0, MAGIC.length);
  }

  /** The chunks of one write, by index. */
  private static final class Group implements Comparable<Group> {
    final long sequence;
    final long writeId;
    final int firstIndex;
    final int count;
    byte[][] chunks;
    boolean inconsistent;

    Group(long sequence, long writeId, int index, int count) {
      this.sequence = sequence;
      this.writeId = writeId;
      this.firstIndex = index;
      this.count = count;
    }

    void add(int index, int chunkCount, byte[] raw) {
      if (chunks == null) {
        chunks = new byte[count][];
      }
      if (chunkCount != count) {
        inconsistent = true;
      } else if (chunks[index] == null) {
        chunks[index] = raw;
      } else if (!Arrays.equals(chunks[index], raw)) {
        inconsistent = true;
      }
    }

    boolean complete() {
      if (inconsistent) {
        return false;
      }
      for (byte[] c : chunks) {
        if (c == null) {
          return false;
        }
      }
      return true;
    }

    @Override
    public int compareTo(Group o) {
      int c = Long.compare(sequence, o.sequence);
      return c != 0 ? c : Long.compareUnsigned(writeId, o.writeId);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Group g && g.sequence == sequence && g.writeId == writeId;
    }

    @Override
    public int hashCode() {
      return Long.hashCode(sequence) * 31 + Long.hashCode(writeId);
    }
  }

  private Group parseHeader(byte[] raw) throws HsmIntegrityException {
    if (raw.length < HEADER) {
      throw new HsmIntegrityException("record " + objectLabel + " has a truncated chunk");
    }
    ByteBuffer b = ByteBuffer.wrap(raw, MAGIC.length, HEADER - MAGIC.length);
    long sequence = b.getLong();
    long writeId = b.getLong();
    int index = b.getInt();
    int count = b.getInt();
    if (count < 1 || count > MAX_CHUNKS || index < 0 || index >= count
        || (index == 0 && raw.length < HEADER + TAG)) {
      throw new HsmIntegrityException("record " + objectLabel + " has a malformed chunk");
    }
    return new Group(sequence, writeId, index, count);
  }

  private T verifyChunks(Group g) throws HsmException {
    int length = g.chunks[0].length - HEADER - TAG;
    for (int i = 1; i < g.count; i++) {
      length += g.chunks[i].length - HEADER;
    }
    byte[] doc = new byte[length];
    int at = g.chunks[0].length - HEADER - TAG;
    System.arraycopy(g.chunks[0], HEADER + TAG, doc, 0, at);
    for (int i = 1; i < g.count; i++) {
      int n = g.chunks[i].length - HEADER;
      System.arraycopy(g.chunks[i], HEADER, doc, at, n);
      at += n;
    }
    byte[] tag = Arrays.copyOfRange(g.chunks[0], HEADER, HEADER + TAG);
    try (HsmSession s = hsm.openSession()) {
      s.verify(macKeyForReading(), chunkedMacInput(g.sequence, g.writeId, g.count, doc), tag);
    }
    T parsed = parse(doc);
    if (codec.sequence(parsed) != g.sequence) {
      throw new HsmIntegrityException("record " + objectLabel
          + " verifies but its sequence disagrees with its chunks");
    }
    return parsed;
  }

  private T verifyLegacy(byte[] raw) throws HsmException {
    if (raw.length <= TAG) {
      throw new HsmIntegrityException("record " + objectLabel + " is truncated");
    }
    byte[] doc = Arrays.copyOfRange(raw, TAG, raw.length);
    try (HsmSession s = hsm.openSession()) {
      s.verify(macKeyForReading(), legacyMacInput(doc), Arrays.copyOf(raw, TAG));
    }
    return parse(doc);
  }

  private KeyRef macKeyForReading() throws HsmException {
    try {
      return hsm.findKey(macLabel, 1);
    } catch (KeyNotFoundException e) {
      throw new HsmIntegrityException("record " + objectLabel + " exists but its MAC key "
          + macLabel + "#v1 is not in the token: refusing to trust it");
    }
  }

  private T parse(byte[] doc) throws HsmIntegrityException {
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
   *
   * @throws HsmPolicyException if the document needs more than {@link #MAX_CHUNKS} chunks
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
    long sequence = codec.sequence(doc);
    int first = CHUNK_BYTES - HEADER - TAG;
    int rest = CHUNK_BYTES - HEADER;
    int count = bytes.length <= first ? 1 : 1 + (bytes.length - first + rest - 1) / rest;
    if (count > MAX_CHUNKS) {
      throw new HsmPolicyException("record " + objectLabel + " would need " + count
          + " chunks, more than " + MAX_CHUNKS);
    }
    long writeId = WRITE_IDS.nextLong();
    byte[] tag;
    try (HsmSession s = hsm.openSession()) {
      tag = s.sign(mac, chunkedMacInput(sequence, writeId, count, bytes));
    }
    List<byte[]> chunks = new ArrayList<>(count);
    int at = 0;
    for (int i = 0; i < count; i++) {
      int n = Math.min(bytes.length - at, i == 0 ? first : rest);
      ByteBuffer b = ByteBuffer.allocate(HEADER + (i == 0 ? TAG : 0) + n);
      b.put(MAGIC).putLong(sequence).putLong(writeId).putInt(i).putInt(count);
      if (i == 0) {
        b.put(tag);
      }
      b.put(bytes, at, n);
      at += n;
      chunks.add(b.array());
    }
    hsm.replaceDataObjects(objectLabel, chunks);
    lastRaw = List.copyOf(chunks);
    lastRead = doc;
  }

  private byte[] legacyMacInput(byte[] doc) {
    byte[] in = new byte[macContext.length + doc.length];
    System.arraycopy(macContext, 0, in, 0, macContext.length);
    System.arraycopy(doc, 0, in, macContext.length, doc.length);
    return in;
  }

  private byte[] chunkedMacInput(long sequence, long writeId, int count, byte[] doc) {
    return ByteBuffer.allocate(macContext.length + MAGIC.length + 8 + 8 + 4 + doc.length)
        .put(macContext).put(MAGIC).putLong(sequence).putLong(writeId).putInt(count).put(doc)
        .array();
  }
}
