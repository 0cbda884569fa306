package io.imskms.hsm;

import java.math.BigInteger;
import java.util.Arrays;

/** P-256 point checks, so that a bad peer point is refused before it reaches the token. */
final class EcPoints {
  private static final BigInteger P = new BigInteger(
      "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", 16);
  private static final BigInteger B = new BigInteger(
      "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16);
  private static final BigInteger THREE = BigInteger.valueOf(3);

  private EcPoints() {}

  /** Checks 0x04 ‖ X ‖ Y with X, Y in the field and y² = x³ − 3x + b (mod p). */
  static void checkP256(byte[] point) throws HsmPolicyException {
    if (point == null || point.length != 65 || point[0] != 0x04) {
      throw new HsmPolicyException("a P-256 public point is 65 bytes, uncompressed");
    }
    BigInteger x = new BigInteger(1, Arrays.copyOfRange(point, 1, 33));
    BigInteger y = new BigInteger(1, Arrays.copyOfRange(point, 33, 65));
    if (x.compareTo(P) >= 0 || y.compareTo(P) >= 0) {
      throw new HsmPolicyException("P-256 point coordinates out of range");
    }
    BigInteger rhs = x.pow(3).subtract(x.multiply(THREE)).add(B).mod(P);
    if (!y.pow(2).mod(P).equals(rhs)) {
      throw new HsmPolicyException("the public point is not on P-256");
    }
  }

  /** SoftHSM2 (like PKCS#11 2.40) returns CKA_EC_POINT as a DER OCTET STRING around the point. */
  static byte[] unwrapDerOctetString(byte[] der) throws HsmException {
    if (der != null && der.length == 67 && der[0] == 0x04 && der[1] == 65) {
      return Arrays.copyOfRange(der, 2, 67);
    }
    if (der != null && der.length == 65 && der[0] == 0x04) {
      return der.clone();
    }
    throw new HsmUnavailableException("token returned an unexpected CKA_EC_POINT encoding");
  }

  /**
   * An Ed25519 CKA_EC_POINT: SoftHSM2 2.6 returns a DER OCTET STRING (04 20 ‖ 32 bytes); PKCS#11
   * 3.0 tokens may return the 32 raw bytes (RFC 8032 encoding).
   */
  static byte[] ed25519Point(byte[] ecPoint) throws HsmException {
    if (ecPoint != null && ecPoint.length == 34 && ecPoint[0] == 0x04 && ecPoint[1] == 32) {
      return Arrays.copyOfRange(ecPoint, 2, 34);
    }
    if (ecPoint != null && ecPoint.length == 32) {
      return ecPoint.clone();
    }
    throw new HsmUnavailableException("token returned an unexpected Ed25519 CKA_EC_POINT encoding");
  }
}
