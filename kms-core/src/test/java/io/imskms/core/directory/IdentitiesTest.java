package io.imskms.core.directory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import java.util.ArrayList;
import java.util.List;
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
  void normalise_withoutSipSipsOrTelScheme_isRejectedLikeTheProtocol() {
    // The directory used to accept these; the protocol never did, so they could never match.
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise("Bob@Realm.Example"));
    assertThrows(IllegalArgumentException.class,
        () -> Identities.normalise("mailto:bob@ims.example.com"));
  }

  @Test
  void normalise_overlongIdentity_isRejectedLikeTheProtocol() {
    String id = "sip:" + "a".repeat(240) + "@ims.example.com";
    assertThrows(IllegalArgumentException.class, () -> Identities.normalise(id));
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

  /**
   * The directory and the protocol give the same bytes for every input, including the ones on
   * which the two normalisers used to disagree (host ending at ':', '@' inside parameters,
   * schemes other than sip/sips/tel, length).
   */
  @Test
  void normalise_agreesWithTheProtocolOnEveryInput() {
    List<String> inputs = List.of("sip:bob@IMS.example.com:5060", "SIP:Bob@IMS.Example.COM",
        "sip:bob@IMS.example.com;x=A@B", "sip:bob@Host?h=@X", "sips:IMS.EXAMPLE.COM:PORT",
        "TEL:+49-30-1;Phone-Context=X", "Bob@Realm.Example", "mailto:a@b", "sip:a@b\u2003",
        "sip:" + "a".repeat(240) + "@ims.example.com", " sip:alice@ims.example.com ",
        "sip:a\ud800b@x.com", "sip:Ålice@IMS.example.com");
    List<String> disagreements = new ArrayList<>();
    for (String in : inputs) {
      String dir;
      String proto;
      try {
        dir = Identities.normalise(in);
      } catch (IllegalArgumentException e) {
        dir = "refused";
      }
      try {
        proto = Identity.normalise(in);
      } catch (ProtocolException e) {
        proto = "refused";
      }
      if (!dir.equals(proto)) {
        disagreements.add(in + ": directory " + dir + ", protocol " + proto);
      }
    }
    assertEquals(List.of(), disagreements);
  }
}
