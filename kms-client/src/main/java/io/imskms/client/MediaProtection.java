package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Labels;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.WireReader;
import io.imskms.protocol.WireWriter;
import java.io.ByteArrayOutputStream;

/**
 * Deferred media under K (docs/protocol.md, "Media container"). Chunks are AES-256-GCM under
 * Kmsg = KDF(K, mediaChunks(msgId)); the IV is the chunk index (u64) followed by four zero bytes,
 * unique because Kmsg is unique per (K, message id); the AAD binds the message id, the chunk index
 * and a last-chunk flag, so chunks cannot be reordered, moved between messages, dropped or the
 * stream truncated.
 */
public final class MediaProtection {
  /** "IMSM" */
  static final int MAGIC = 0x494d534d;
  public static final int MSG_ID_LEN = 16;
  public static final int MAX_CHUNK = 1 << 20;

  private MediaProtection() {}

  static byte[] chunkAad(byte[] msgId, long index, boolean last) {
    return Contexts.of(Labels.MEDIA_CHUNK_AAD, msgId, new WireWriter().u64(index).toByteArray(),
        new byte[] {(byte) (last ? 1 : 0)});
  }

  static byte[] iv(long index) {
    return new WireWriter().u64(index).u32(0).toByteArray();
  }

  /** Encrypts {@code media} as a container: magic ‖ version ‖ msgId(16) ‖ chunkSize(u32) ‖ chunks. */
  public static byte[] encrypt(SecretBytes k, byte[] msgId, byte[] media, int chunkSize) {
    if (msgId.length != MSG_ID_LEN || chunkSize < 1 || chunkSize > MAX_CHUNK) {
      throw new IllegalArgumentException("message id is 16 bytes, chunk size 1..2^20");
    }
    SecretBytes kmsg = SoftwareCrypto.kdf256(k, Contexts.of(Labels.MEDIA_CHUNKS, msgId));
    WireWriter w = new WireWriter().u32(MAGIC).u8(1).fixed(msgId, MSG_ID_LEN).u32(chunkSize);
    int chunks = Math.max(1, (media.length + chunkSize - 1) / chunkSize);
    for (int i = 0; i < chunks; i++) {
      int from = i * chunkSize;
      int to = Math.min(media.length, from + chunkSize);
      byte[] pt = java.util.Arrays.copyOfRange(media, from, to);
      boolean last = i == chunks - 1;
      byte[] ct = SoftwareCrypto.gcmEncrypt(kmsg, iv(i), chunkAad(msgId, i, last), pt);
      w.u32(ct.length).raw(ct);
    }
    kmsg.destroy();
    return w.toByteArray();
  }

  /** The message id of a container (readable without K). */
  public static byte[] messageId(byte[] container) throws ProtocolException {
    WireReader r = new WireReader(container);
    if (r.u32() != MAGIC) {
      throw new ProtocolException(ErrorCode.MALFORMED, "not a media container");
    }
    r.expect(1, "container version");
    return r.fixed(MSG_ID_LEN);
  }

  /** Decrypts and checks a container; any change, reordering or truncation is INTEGRITY. */
  public static byte[] decrypt(SecretBytes k, byte[] container) throws ProtocolException {
    WireReader r = new WireReader(container);
    if (r.u32() != MAGIC) {
      throw new ProtocolException(ErrorCode.MALFORMED, "not a media container");
    }
    r.expect(1, "container version");
    byte[] msgId = r.fixed(MSG_ID_LEN);
    long chunkSize = r.u32();
    if (chunkSize < 1 || chunkSize > MAX_CHUNK) {
      throw new ProtocolException(ErrorCode.MALFORMED, "chunk size out of range");
    }
    SecretBytes kmsg = SoftwareCrypto.kdf256(k, Contexts.of(Labels.MEDIA_CHUNKS, msgId));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long index = 0;
    boolean sawLast = false;
    while (!sawLast) {
      long len = r.u32();
      if (len < 16 || len > chunkSize + 16) {
        throw new ProtocolException(ErrorCode.MALFORMED, "chunk length out of range");
      }
      byte[] ct = r.fixed((int) len);
      byte[] pt;
      try {
        pt = SoftwareCrypto.gcmDecrypt(kmsg, iv(index), chunkAad(msgId, index, false), ct);
      } catch (ProtocolException notMiddle) {
        pt = SoftwareCrypto.gcmDecrypt(kmsg, iv(index), chunkAad(msgId, index, true), ct);
        sawLast = true;
      }
      out.write(pt, 0, pt.length);
      index++;
    }
    r.end();
    kmsg.destroy();
    return out.toByteArray();
  }
}
