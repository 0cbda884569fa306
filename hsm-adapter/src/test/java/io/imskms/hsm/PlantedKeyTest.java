package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.xipki.pkcs11.wrapper.PKCS11Constants;

/**
 * A key with a KMS label that was imported (its value known to whoever imported it) rather than
 * generated in the token is refused, and so is every listing that would include it: fail closed.
 */
class PlantedKeyTest {

  @Test
  void longTermKeyPlantedByImport_isRefused_andListingFailsClosed() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create(); Pkcs11Hsm hsm = token.open()) {
      try (HsmSession hs = hsm.openSession()) {
        org.xipki.pkcs11.wrapper.Session raw = ((Pkcs11Session) hs).rawSessionForBenchmark();
        raw.createObject(org.xipki.pkcs11.wrapper.AttributeVector.newSecretKey(
            PKCS11Constants.CKK_AES).token(true).private_(true).label("planted#v1")
            .value(new byte[32]).sensitive(true).extractable(false).derive(true)
            .encrypt(false).decrypt(false).sign(false).verify(false).wrap(false).unwrap(false)
            .modifiable(false));
      }
      HsmPolicyException e = assertThrows(HsmPolicyException.class,
          () -> hsm.findKey("planted", 1));
      assertTrue(e.getMessage().contains("not generated in the token"), e.getMessage());
      assertThrows(HsmPolicyException.class, hsm::listLongTermKeys);
    }
  }
}
