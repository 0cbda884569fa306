package io.imskms.cli;

import io.imskms.protocol.P256;
import io.imskms.protocol.ProtocolException;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.ECPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/** Reads a device's P-256 public key as the enrolment request's 65-byte uncompressed point. */
final class DevicePublicKeys {
  private static final String PEM_BEGIN = "-----BEGIN PUBLIC KEY-----";
  private static final String PEM_END = "-----END PUBLIC KEY-----";

  private DevicePublicKeys() {}

  static byte[] read(Path file) throws CliException {
    byte[] raw;
    try {
      raw = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new CliException(ExitCodes.PREREQUISITE, "cannot read the device public key " + file);
    }
    byte[] point;
    if (raw.length == 65 && raw[0] == 4) {
      point = raw;
    } else {
      point = fromSpki(spki(raw, file), file);
    }
    try {
      P256.requireOnCurve(point);
    } catch (ProtocolException e) {
      throw new CliException(ExitCodes.FAILURE, file + " is not a point on P-256");
    }
    return point;
  }

  private static byte[] spki(byte[] raw, Path file) throws CliException {
    String text = new String(raw, StandardCharsets.US_ASCII);
    int begin = text.indexOf(PEM_BEGIN);
    if (begin < 0) {
      return raw;
    }
    int end = text.indexOf(PEM_END, begin);
    if (end < 0) {
      throw new CliException(ExitCodes.FAILURE, file + ": PEM without " + PEM_END);
    }
    try {
      return Base64.getMimeDecoder().decode(text.substring(begin + PEM_BEGIN.length(), end));
    } catch (IllegalArgumentException e) {
      throw new CliException(ExitCodes.FAILURE, file + ": PEM body is not base64");
    }
  }

  private static byte[] fromSpki(byte[] der, Path file) throws CliException {
    try {
      ECPublicKey k = (ECPublicKey) KeyFactory.getInstance("EC")
          .generatePublic(new X509EncodedKeySpec(der));
      if (k.getParams().getCurve().getField().getFieldSize() != 256) {
        throw new CliException(ExitCodes.FAILURE, file + " is not a P-256 key");
      }
      byte[] out = new byte[65];
      out[0] = 4;
      copy32(k.getW().getAffineX(), out, 1);
      copy32(k.getW().getAffineY(), out, 33);
      return out;
    } catch (GeneralSecurityException | ClassCastException e) {
      throw new CliException(ExitCodes.FAILURE, file + " is not an EC public key"
          + " (SubjectPublicKeyInfo, PEM or DER) nor a 65-byte uncompressed P-256 point");
    }
  }

  private static void copy32(BigInteger v, byte[] out, int off) {
    byte[] b = v.toByteArray();
    int n = Math.min(b.length, 32);
    System.arraycopy(b, b.length - n, out, off + 32 - n, n);
  }
}
