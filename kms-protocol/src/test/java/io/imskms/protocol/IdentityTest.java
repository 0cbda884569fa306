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

  /**
   * The allocation-free fast path of {@link Identity#isNormal} never says "normal" where
   * {@code normalise} disagrees, and {@code isNormal} as a whole answers as
   * {@code normalise(id).equals(id)} did, on 50,000 generated identities: the protocol's shapes
   * with every case, separator, white space, control, non-ASCII and length variation near 255.
   */
  @Test
  void isNormal_fastPath_agreesWithNormalise_onGeneratedIdentities() {
    String[] schemes = {"sip:", "sips:", "tel:", "SIP:", "Sips:", "TEL:", "sipx:", "http:", "",
        " sip:", "sip"};
    String[] pieces = {"alice", "Alice", "ALICE", "a", "", "@", "@@", "ims.example.com",
        "IMS.Example.COM", "x", ":", ";", "?", ";user=phone", "?Subject=Hi", ":5060", ";Tag=X",
        " ", "\t", "\u0007", "\u00e9", "\ud83d\ude00", "\ud83d", "+49-89-1234", "%41", "a b",
        "vm.bob", "[2001:db8::1]", "\u00a0", "\u2028"};
    java.util.Random r = new java.util.Random(20261205);
    int fast = 0;
    int normal = 0;
    for (int i = 0; i < 50_000; i++) {
      StringBuilder b = new StringBuilder(schemes[r.nextInt(schemes.length)]);
      int n = r.nextInt(6);
      for (int j = 0; j < n; j++) {
        b.append(pieces[r.nextInt(pieces.length)]);
      }
      if (r.nextInt(20) == 0) {
        b.append("a".repeat(240 + r.nextInt(30))); // around the 255-byte limit
      }
      String id = b.toString();
      boolean reference;
      try {
        reference = Identity.normalise(id).equals(id);
      } catch (ProtocolException e) {
        reference = false;
      }
      if (Identity.certainlyNormal(id)) {
        fast++;
        assertTrue(reference, () -> "fast path says normal, normalise disagrees: " + id);
      }
      assertEquals(reference, Identity.isNormal(id), id);
      if (reference) {
        normal++;
      }
    }
    // The fast path carries the common case: most normal identities never reach normalise.
    assertTrue(normal > 1000, "normal identities generated: " + normal);
    assertTrue(fast > normal / 2, "fast path " + fast + " of " + normal);
  }
}
