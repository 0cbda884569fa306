package io.imskms.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class IdentityTest {

  @Test
  void normalise_trimsAndLowerCasesSchemeAndHost_keepsUserPart() throws Exception {
    assertEquals("sip:Alice@ims.example.com", Identity.normalise("  SIP:Alice@IMS.Example.COM\t"));
    assertEquals("sips:bob@ims.example.com;transport=TCP",
        Identity.normalise("SIPS:bob@IMS.example.com;transport=TCP"));
    assertEquals("sip:bob@ims.example.com:5060", Identity.normalise("sip:bob@IMS.example.com:5060"));
    assertEquals("sip:ims.example.com", Identity.normalise("sip:IMS.example.com"));
    assertEquals("tel:+4930123456;phone-context=ims.example.com",
        Identity.normalise("TEL:+4930123456;phone-context=IMS.example.com"));
  }

  @Test
  void normalise_refusesWhiteSpaceControlsUnknownSchemesEmptyPartsAndOverlongIds() {
    for (String bad : new String[] {"", "   ", "sip:al ice@x.com", "sip:alice@x.com\u0000",
        "sip:alice\u2003@x.com", "mailto:alice@x.com", "alice@x.com", "sip:@x.com", "sip:alice@",
        "tel:", "sip:a\ud800b@x.com", "sip:" + "a".repeat(240) + "@ims.example.com"}) {
      ProtocolException e = assertThrows(ProtocolException.class, () -> Identity.normalise(bad),
          bad);
      assertEquals(ErrorCode.MALFORMED, e.code());
      assertFalse(e.getMessage().contains("alice"), "the message must not echo input");
    }
  }

  @Test
  void isNormal_onlyForTheNormalForm() {
    assertTrue(Identity.isNormal("sip:alice@ims.example.com"));
    assertFalse(Identity.isNormal("sip:alice@IMS.example.com"));
    assertFalse(Identity.isNormal(" sip:alice@ims.example.com"));
    assertThrows(ProtocolException.class, () -> Identity.requireNormal("SIP:alice@x.com"));
  }

  @Test
  void longestAllowedIdentity_is255Bytes() throws Exception {
    String id = "sip:" + "a".repeat(255 - 4 - 16) + "@ims.example.com";
    assertEquals(255, id.length());
    assertEquals(id, Identity.normalise(id));
    assertThrows(ProtocolException.class, () -> Identity.normalise(id.replace("sip:", "sip:a")));
  }
}
