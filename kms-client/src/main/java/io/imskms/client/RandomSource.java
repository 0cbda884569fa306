package io.imskms.client;

import java.security.SecureRandom;

/** Where the client's nonces, IVs and Ra come from; fixed only in worked-example tests. */
@FunctionalInterface
public interface RandomSource {
  byte[] next(int length);

  static RandomSource secure() {
    SecureRandom r = new SecureRandom();
    return n -> {
      byte[] b = new byte[n];
      r.nextBytes(b);
      return b;
    };
  }
}
