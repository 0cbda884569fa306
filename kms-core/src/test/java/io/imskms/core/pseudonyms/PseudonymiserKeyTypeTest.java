package io.imskms.core.pseudonyms;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmMisconfigurationException;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.SoftHsmTestToken;
import org.junit.jupiter.api.Test;

/**
 * A key of the wrong type planted under the pseudonym label (an operator's mistake, or another
 * application's key): {@link Pseudonymiser#open} refuses it as a misconfiguration naming the key,
 * and {@link Pseudonymiser#ensure} does not replace it.
 */
class PseudonymiserKeyTypeTest {
  @Test
  void aKeyOfTheWrongTypeUnderThePseudonymLabel_isRefusedAsMisconfiguration() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create(); Hsm hsm = token.open()) {
      // An AES derivation root (as the KMS's own roots) under the pseudonym label. (An HMAC key
      // without SIGN cannot be made through the adapter: its key check value needs SIGN.)
      hsm.generateLongTermKey("pseudo-aes", Pseudonymiser.KEY_VERSION,
          KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE));
      assertFalse(Pseudonymiser.ensure(hsm, "pseudo-aes"), "a key is there: none generated");
      HsmMisconfigurationException aes = assertThrows(HsmMisconfigurationException.class,
          () -> Pseudonymiser.open(hsm, "pseudo-aes", 16));
      assertTrue(aes.getMessage().contains("pseudo-aes#v1")
          && aes.getMessage().contains("not an HMAC-SHA-256 signing key"), aes.getMessage());

      Pseudonymiser.ensure(hsm, "pseudo-good");
      assertTrue(Pseudonymiser.open(hsm, "pseudo-good", 16).pseudonym("sip:a@ims.example.com")
          .startsWith(Pseudonymiser.PREFIX));
    }
  }
}
