package io.imskms.audit;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.EdECPoint;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;

/**
 * A C2SP signed-note verifier key for Ed25519: {@code name+hex(keyhash)+base64(0x01 ‖ pubkey)},
 * where keyhash is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey). Signatures are
 * checked with the JDK's Ed25519 (SunEC), independent of the HSM that made them.
 */
public final class VerifierKey {
  static final byte ALG_ED25519 = 0x01;

  private final String name;
  private final byte[] publicKey;
  private final byte[] keyHash;
  private final PublicKey jcaKey;

  private VerifierKey(String name, byte[] publicKey) throws GeneralSecurityException {
    this.name = name;
    this.publicKey = publicKey.clone();
    this.keyHash = keyHash(name, publicKey);
    this.jcaKey = jcaKey(publicKey);
  }

  /** The verifier key of an Ed25519 public key under {@code name}. */
  public static VerifierKey of(String name, byte[] publicKey) {
    checkName(name);
    if (publicKey == null || publicKey.length != 32) {
      throw new IllegalArgumentException("an Ed25519 public key is 32 bytes");
    }
    try {
      return new VerifierKey(name, publicKey);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("not an Ed25519 public key", e);
    }
  }

  /** Parses {@code name+hash+base64}; refuses a hash that does not match the key. */
  public static VerifierKey parse(String vkey) {
    String s = vkey.strip();
    int a = s.indexOf('+');
    int b = a < 0 ? -1 : s.indexOf('+', a + 1);
    if (a <= 0 || b != a + 9) {
      throw new IllegalArgumentException("a verifier key has the form name+hash+base64");
    }
    String name = s.substring(0, a);
    String hash = s.substring(a + 1, b);
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(s.substring(b + 1));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("the verifier key's key part is not base64");
    }
    if (raw.length != 33 || raw[0] != ALG_ED25519) {
      throw new IllegalArgumentException("not an Ed25519 verifier key (type 0x01, 32 bytes)");
    }
    VerifierKey k = of(name, Arrays.copyOfRange(raw, 1, 33));
    if (!hash.equals(HexFormat.of().formatHex(k.keyHash))) {
      throw new IllegalArgumentException("the verifier key's hash does not match its name and key");
    }
    return k;
  }

  static void checkName(String name) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("a key name is not empty");
    }
    for (int i = 0; i < name.length(); ) {
      int c = name.codePointAt(i);
      if (c == '+' || Character.isWhitespace(c) || Character.isSpaceChar(c) || c < 0x20) {
        throw new IllegalArgumentException("a key name has no spaces and no '+'");
      }
      i += Character.charCount(c);
    }
  }

  /** First 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey). */
  public static byte[] keyHash(String name, byte[] publicKey) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    byte[] in = new byte[n.length + 2 + publicKey.length];
    System.arraycopy(n, 0, in, 0, n.length);
    in[n.length] = 0x0A;
    in[n.length + 1] = ALG_ED25519;
    System.arraycopy(publicKey, 0, in, n.length + 2, publicKey.length);
    return Arrays.copyOf(Merkle.sha256(in), 4);
  }

  /** An Ed25519 public key for the JDK from its RFC 8032 encoding (little-endian y, x sign). */
  static PublicKey jcaKey(byte[] raw) throws GeneralSecurityException {
    byte[] le = raw.clone();
    boolean xOdd = (le[31] & 0x80) != 0;
    le[31] &= 0x7f;
    byte[] be = new byte[32];
    for (int i = 0; i < 32; i++) {
      be[i] = le[31 - i];
    }
    EdECPoint point = new EdECPoint(xOdd, new java.math.BigInteger(1, be));
    return KeyFactory.getInstance("Ed25519")
        .generatePublic(new EdECPublicKeySpec(NamedParameterSpec.ED25519, point));
  }

  /** Ed25519 verification with the JDK. */
  public boolean verify(byte[] message, byte[] signature) {
    if (signature == null || signature.length != 64) {
      return false;
    }
    try {
      Signature v = Signature.getInstance("Ed25519");
      v.initVerify(jcaKey);
      v.update(message);
      return v.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  public String name() {
    return name;
  }

  public byte[] publicKey() {
    return publicKey.clone();
  }

  public byte[] keyHash() {
    return keyHash.clone();
  }

  /** The C2SP text form {@code name+hash+base64}. */
  public String encode() {
    byte[] raw = new byte[33];
    raw[0] = ALG_ED25519;
    System.arraycopy(publicKey, 0, raw, 1, 32);
    return name + "+" + HexFormat.of().formatHex(keyHash) + "+"
        + Base64.getEncoder().encodeToString(raw);
  }

  @Override
  public String toString() {
    return encode();
  }
}
