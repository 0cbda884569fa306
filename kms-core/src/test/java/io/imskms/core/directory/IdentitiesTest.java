package io.imskms.core.directory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class IdentitiesTest {

  @Test
  void normalise_sipUri_lowerCasesSchemeAndHostButNotUser() {
    assertEquals("sip:Bob@ims.example.com", Identities.normalise("  SIP:Bob@IMS.Example.COM\t"));
    assertEquals("sips:bob@ims.example.com:5061;transport=TCP",
        Identities.normalise("SIPS:bob@IMS.example.com:5061;transport=TCP"));
    assertEquals("sip:ims.example.com", Identities.normalise("sip:IMS.example.com"));
  }

  @Test
  void normalise_telUri_lowerCasesEverything() {
    assertEquals("tel:+4930123456;phone-context=ims.example.com",
        Identities.normalise("TEL:+4930123456;Phone-Context=IMS.example.com"));
  }

  @Test
  void normalise_withoutScheme_onlyStrips() {
    assertEquals("Bob@Realm.Example", Identities.normalise(" Bob@Realm.Example "));
  }

  @Test
  void normalise_emptyOrBlank_isRejected() {
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise(""));
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise(" \t\n"));
  }

  @Test
  void normalise_innerWhitespaceOrControlCharacter_isRejectedWithoutEchoingInput() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Identities.normalise("sip:bob smith@example.com"));
    assertFalse(e.getMessage().contains("smith"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> Identities.normalise("sip:bob@example.com\u0000evil"));
    assertThrows(IllegalArgumentException.class,
        () -> Identities.normalise("sip:bob@example.com\r\nX-Injected: 1"));
  }

  @Test
  void normalise_sipUriWithEmptyUserOrHost_isRejected() {
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise("sip:@example.com"));
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise("sip:bob@"));
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise("sip:bob@;x=1"));
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise("sip:"));
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise("tel:"));
  }
}
