package io.imskms.protocol;

import java.math.BigInteger;
import java.util.Arrays;

/** Checks that 65 bytes are an uncompressed point on P-256 (FIPS 186-4 D.1.2.3). */
public final class P256 {
  private static final BigInteger P = new BigInteger(
      "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", 16);
  private static final BigInteger B = new BigInteger(
      "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16);

  private P256() {}

  public static void requireOnCurve(byte[] point) throws ProtocolException {
    if (point == null || point.length != Wire.EC_POINT_LEN || point[0] != 4) {
      throw ProtocolException.malformed("not an uncompressed P-256 point");
    }
    BigInteger x = new BigInteger(1, Arrays.copyOfRange(point, 1, 33));
    BigInteger y = new BigInteger(1, Arrays.copyOfRange(point, 33, 65));
    if (x.compareTo(P) >= 0 || y.compareTo(P) >= 0) {
      throw ProtocolException.malformed("P-256 coordinate out of range");
    }
    BigInteger lhs = y.multiply(y).mod(P);
    BigInteger rhs = x.pow(3).subtract(x.multiply(BigInteger.valueOf(3))).add(B).mod(P);
    if (!lhs.equals(rhs)) {
      throw ProtocolException.malformed("point is not on P-256");
    }
  }
}
