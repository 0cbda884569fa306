package io.imskms.core;

import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;

/**
 * Where the KMS's random values (the bootstrap RAND) come from: the HSM's generator in
 * production ({@link #HSM}); a fixed sequence only in the worked-example tests.
 */
@FunctionalInterface
public interface ServerRandom {
  ServerRandom HSM = HsmSession::random;

  byte[] next(HsmSession session, int length) throws HsmException;
}
