package io.imskms.protocol;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Big-endian encoder for the primitives of docs/protocol.md ("Encoding"). Not thread-safe: one
 * writer builds one message on one thread (a plain array, where {@code ByteArrayOutputStream}
 * took its monitor for every byte written).
 */
public final class WireWriter {
  private byte[] buf = new byte[256];
  private int count;

  /** Room for {@code n} more bytes (doubling: amortised O(1) per byte). */
  private void ensure(int n) {
    if (n > buf.length - count) {
      buf = Arrays.copyOf(buf, Math.max(count + n, 2 * buf.length));
    }
  }

  private void put(int b) {
    ensure(1);
    buf[count++] = (byte) b;
  }

  private void put(byte[] b) {
    ensure(b.length);
    System.arraycopy(b, 0, buf, count, b.length);
    count += b.length;
  }

  public WireWriter u8(int v) {
    if (v < 0 || v > 0xff) {
      throw new IllegalArgumentException("u8 out of range");
    }
    put(v);
    return this;
  }

  public WireWriter u16(int v) {
    if (v < 0 || v > 0xffff) {
      throw new IllegalArgumentException("u16 out of range");
    }
    put(v >>> 8);
    put(v);
    return this;
  }

  public WireWriter u32(long v) {
    if (v < 0 || v > 0xffffffffL) {
      throw new IllegalArgumentException("u32 out of range");
    }
    for (int i = 3; i >= 0; i--) {
      put((int) (v >>> (8 * i)));
    }
    return this;
  }

  public WireWriter u64(long v) {
    for (int i = 7; i >= 0; i--) {
      put((int) (v >>> (8 * i)));
    }
    return this;
  }

  /** Exactly {@code len} bytes, no length prefix. */
  public WireWriter fixed(byte[] b, int len) {
    if (b == null || b.length != len) {
      throw new IllegalArgumentException("fixed field must be " + len + " bytes");
    }
    put(b);
    return this;
  }

  /** u16 length then the bytes; {@code max} is the field's documented maximum. */
  public WireWriter var(byte[] b, int max) {
    if (b == null || b.length > max) {
      throw new IllegalArgumentException("variable field longer than " + max + " bytes");
    }
    u16(b.length);
    put(b);
    return this;
  }

  /** An identity: u16 length then UTF-8, 1..255 bytes; must be in normal form. */
  public WireWriter identity(String id) {
    if (!Identity.isNormal(id)) {
      throw new IllegalArgumentException("identity not in normal form");
    }
    return var(id.getBytes(StandardCharsets.UTF_8), Identity.MAX_BYTES);
  }

  public WireWriter raw(byte[] b) {
    put(b);
    return this;
  }

  public int size() {
    return count;
  }

  public byte[] toByteArray() {
    return Arrays.copyOf(buf, count);
  }
}
