package io.imskms.hsm;

import org.xipki.pkcs11.wrapper.PKCS11Constants;

/**
 * Test-only: imports a known key value as a session object of {@code session}, so that the worked
 * examples of docs/protocol.md can be produced by the real KMS code on the real token (and, to
 * compare, on {@link InsecureSoftwareHsm}). Lives in the adapter's package (in kms-core's test
 * sources) because the import is deliberately not public.
 */
public final class FixedTestKeys {
  private FixedTestKeys() {}

  public static KeyRef importForTest(HsmSession session, KeySpec spec, byte[] value)
      throws HsmException {
    if (session instanceof InsecureSoftwareHsm.Session soft) {
      return soft.importForTest(spec, value);
    }
    long type = spec.algorithm() == KeyAlgorithm.HMAC_SHA256
        ? PKCS11Constants.CKK_GENERIC_SECRET : PKCS11Constants.CKK_AES;
    return ((Pkcs11Session) session).importCleartextKeyForSelfTest(type, value, spec);
  }
}
