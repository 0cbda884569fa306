package io.imskms.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Big-endian encoder for the primitives of docs/protocol.md ("Encoding"). */
public final class WireWriter {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream(256);

  public WireWriter u8(int v) {
    if (v < 0 || v > 0xff) {
      throw new IllegalArgumentException("u8 out of range");
    }
    out.write(v);
    return this;
  }

  public WireWriter u16(int v) {
    if (v < 0 || v > 0xffff) {
      throw new IllegalArgumentException("u16 out of range");
    }
    out.write(v >>> 8);
    out.write(v);
    return this;
  }

  public WireWriter u32(long v) {
    if (v < 0 || v > 0xffffffffL) {
      throw new IllegalArgumentException("u32 out of range");
    }
    for (int i = 3; i >= 0; i--) {
      out.write((int) (v >>> (8 * i)));
    }
    return this;
  }

  public WireWriter u64(long v) {
    for (int i = 7; i >= 0; i--) {
      out.write((int) (v >>> (8 * i)));
    }
    return this;
  }

  /** Exactly {@code len} bytes, no length prefix. */
  public WireWriter fixed(byte[] b, int len) {
    if (b == null || b.length != len) {
      throw new IllegalArgumentException("fixed field must be " + len + " bytes");
    }
    out.write(b, 0, b.length);
    return this;
  }

  /** u16 length then the bytes; {@code max} is the field's documented maximum. */
  public WireWriter var(byte[] b, int max) {
    if (b == null || b.length > max) {
      throw new IllegalArgumentException("variable field longer than " + max + " bytes");
    }
    u16(b.length);
    out.write(b, 0, b.length);
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
    out.write(b, 0, b.length);
    return this;
  }

  public int size() {
    return out.size();
  }

  public byte[] toByteArray() {
    return out.toByteArray();
  }
}
