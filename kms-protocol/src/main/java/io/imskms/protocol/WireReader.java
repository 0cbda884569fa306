package io.imskms.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Strict big-endian decoder: every read checks the remaining length, every variable field checks
 * its documented minimum and maximum, and {@link #end()} refuses trailing bytes. Every failure is
 * a {@link ProtocolException} with {@link ErrorCode#MALFORMED}.
 */
public final class WireReader {
  private final byte[] in;
  private int pos;

  public WireReader(byte[] in) throws ProtocolException {
    if (in == null) {
      throw ProtocolException.malformed("message missing");
    }
    this.in = in;
  }

  private void need(int n) throws ProtocolException {
    if (n < 0 || in.length - pos < n) {
      throw ProtocolException.malformed("truncated");
    }
  }

  public int position() {
    return pos;
  }

  /** The bytes from {@code from} to the current position (for AADs and MAC inputs). */
  public byte[] slice(int from) {
    return Arrays.copyOfRange(in, from, pos);
  }

  public int u8() throws ProtocolException {
    need(1);
    return in[pos++] & 0xff;
  }

  /** Reads one byte and requires it to equal {@code expected}. */
  public void expect(int expected, String what) throws ProtocolException {
    if (u8() != expected) {
      throw ProtocolException.malformed("wrong " + what);
    }
  }

  public int u16() throws ProtocolException {
    need(2);
    int v = ((in[pos] & 0xff) << 8) | (in[pos + 1] & 0xff);
    pos += 2;
    return v;
  }

  public long u32() throws ProtocolException {
    need(4);
    long v = 0;
    for (int i = 0; i < 4; i++) {
      v = (v << 8) | (in[pos++] & 0xff);
    }
    return v;
  }

  public long u64() throws ProtocolException {
    need(8);
    long v = 0;
    for (int i = 0; i < 8; i++) {
      v = (v << 8) | (in[pos++] & 0xff);
    }
    return v;
  }

  public byte[] fixed(int len) throws ProtocolException {
    need(len);
    byte[] b = Arrays.copyOfRange(in, pos, pos + len);
    pos += len;
    return b;
  }

  public byte[] var(int min, int max) throws ProtocolException {
    int len = u16();
    if (len < min || len > max) {
      throw ProtocolException.malformed("field length out of range");
    }
    return fixed(len);
  }

  /** An identity field: 1..255 bytes of valid UTF-8 in normal form. */
  public String identity() throws ProtocolException {
    byte[] b = var(1, Identity.MAX_BYTES);
    String s;
    try {
      s = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(b)).toString();
    } catch (CharacterCodingException e) {
      throw ProtocolException.malformed("identity is not UTF-8");
    }
    return Identity.requireNormal(s);
  }

  /** A key version: u32, 1..2^31-1. */
  public int version() throws ProtocolException {
    long v = u32();
    if (v < 1 || v > Integer.MAX_VALUE) {
      throw ProtocolException.malformed("key version out of range");
    }
    return (int) v;
  }

  public void end() throws ProtocolException {
    if (pos != in.length) {
      throw ProtocolException.malformed("trailing bytes");
    }
  }
}
