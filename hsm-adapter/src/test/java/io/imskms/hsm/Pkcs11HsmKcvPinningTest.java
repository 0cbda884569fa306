package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Map;
import org.junit.jupiter.api.AfterEach;

/** A token whose keys do not match the key check values recorded for them is refused. */
class Pkcs11HsmKcvPinningTest {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);

  private SoftHsmTestToken token;
  private Pkcs11Hsm hsm;

  @AfterEach
  void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  @org.junit.jupiter.api.Test
  void startUp_withPinnedKcvOfAnotherKey_isRefused_andWithTheRightOne_starts() throws Exception {
    token = SoftHsmTestToken.create();
    String kcv;
    try (Pkcs11Hsm first = token.open()) {
      kcv = first.generateLongTermKey("root", 1, ROOT).kcv();
    }
    String wrong = (kcv.charAt(0) == '0' ? "1" : "0") + kcv.substring(1);
    HsmException e = assertThrows(HsmException.class, () -> Pkcs11Hsm.open(token.config()
        .expectedKcvs(Map.of("root#v1", wrong)).build()));
    assertEquals(HsmException.Kind.MISCONFIGURATION, e.kind());
    assertTrue(e.getMessage().contains("key check value"), e.getMessage());
    hsm = Pkcs11Hsm.open(token.config().expectedKcvs(Map.of("root#v1", kcv)).build());
    assertTrue(hsm.status().ready());
  }
}
