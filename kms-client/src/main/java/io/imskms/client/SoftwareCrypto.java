package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The primitives of docs/protocol.md in software (JCA only). {@link #kdf} is byte-for-byte the
 * HSM's {@code HsmSession.deriveKey}: the first L bytes of AES-ECB(key, SHA-256(context)).
 */
public final class SoftwareCrypto {
  private SoftwareCrypto() {}

  /** The portable KDF. {@code length} is 16 or 32. */
  public static SecretBytes kdf(SecretBytes key, byte[] context, int length) {
    if (length != 16 && length != 32) {
      throw new IllegalArgumentException("derived keys are 16 or 32 bytes");
    }
    try {
      Cipher ecb = Cipher.getInstance("AES/ECB/NoPadding");
      ecb.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key.internal(), "AES"));
      byte[] out = ecb.doFinal(Contexts.sha256(context));
      byte[] k = Arrays.copyOf(out, length);
      Arrays.fill(out, (byte) 0);
      return SecretBytes.adopt(k);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES missing from the JDK", e);
    }
  }

  public static SecretBytes kdf256(SecretBytes key, byte[] context) {
    return kdf(key, context, 32);
  }

  public static byte[] hmac(SecretBytes key, byte[] data) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key.internal(), "HmacSHA256"));
      return mac.doFinal(data);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 missing from the JDK", e);
    }
  }

  public static void verifyHmac(SecretBytes key, byte[] data, byte[] tag)
      throws ProtocolException {
    if (!MessageDigest.isEqual(hmac(key, data), tag)) {
      throw new ProtocolException(ErrorCode.INTEGRITY, "MAC does not verify");
    }
  }

  public static byte[] gcmEncrypt(SecretBytes key, byte[] iv, byte[] aad, byte[] plaintext) {
    try {
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key.internal(), "AES"),
          new GCMParameterSpec(128, iv));
      c.updateAAD(aad);
      return c.doFinal(plaintext);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed", e);
    }
  }

  public static byte[] gcmDecrypt(SecretBytes key, byte[] iv, byte[] aad, byte[] ct)
      throws ProtocolException {
    try {
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key.internal(), "AES"),
          new GCMParameterSpec(128, iv));
      c.updateAAD(aad);
      return c.doFinal(ct);
    } catch (AEADBadTagException e) {
      throw new ProtocolException(ErrorCode.INTEGRITY, "AES-GCM tag does not verify");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed", e);
    }
  }

  /** RFC 3394 unwrap (JCE "AESWrap") of a 256-bit key. */
  public static SecretBytes unwrap(SecretBytes kek, byte[] wrapped) throws ProtocolException {
    try {
      Cipher c = Cipher.getInstance("AESWrap");
      c.init(Cipher.UNWRAP_MODE, new SecretKeySpec(kek.internal(), "AES"));
      byte[] k = c.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded();
      if (k.length != 32) {
        throw new ProtocolException(ErrorCode.MALFORMED, "wrapped key is not 256 bits");
      }
      return SecretBytes.adopt(k);
    } catch (java.security.InvalidKeyException e) {
      throw new ProtocolException(ErrorCode.INTEGRITY, "wrapped key does not unwrap");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AESWrap failed", e);
    }
  }

  /** RFC 3394 wrap (JCE "AESWrap"); used by the enrolment test double and worked examples. */
  public static byte[] wrap(SecretBytes kek, SecretBytes key) {
    try {
      Cipher c = Cipher.getInstance("AESWrap");
      c.init(Cipher.WRAP_MODE, new SecretKeySpec(kek.internal(), "AES"));
      return c.wrap(new SecretKeySpec(key.internal(), "AES"));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AESWrap failed", e);
    }
  }
}
