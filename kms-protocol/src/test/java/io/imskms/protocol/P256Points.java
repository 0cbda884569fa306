package io.imskms.protocol;

import java.math.BigInteger;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECPoint;
import java.util.ArrayList;
import java.util.List;

/** Valid uncompressed P-256 points, the same in every run (a seeded SHA1PRNG drives the JCA). */
final class P256Points {
  private P256Points() {}

  static final List<byte[]> SAMPLE = make(8);

  private static List<byte[]> make(int n) {
    try {
      SecureRandom rnd = SecureRandom.getInstance("SHA1PRNG");
      rnd.setSeed(20261128L);
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"), rnd);
      List<byte[]> out = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        ECPoint w = ((ECPublicKey) g.generateKeyPair().getPublic()).getW();
        byte[] p = new byte[Wire.EC_POINT_LEN];
        p[0] = 4;
        put(w.getAffineX(), p, 1);
        put(w.getAffineY(), p, 33);
        out.add(p);
      }
      return List.copyOf(out);
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException("P-256 missing from the JDK", e);
    }
  }

  private static void put(BigInteger v, byte[] out, int at) {
    byte[] b = v.toByteArray();
    int len = Math.min(b.length, 32);
    System.arraycopy(b, b.length - len, out, at + 32 - len, len);
  }
}
