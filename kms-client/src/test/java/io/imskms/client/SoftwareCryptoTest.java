package io.imskms.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class SoftwareCryptoTest {
  private static final InsecureSecretAccess ACCESS = InsecureSecretAccess.get();

  static SecretBytes fill(int v) {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) v);
    return SecretBytes.copyOf(b, ACCESS);
  }

  @Test
  void kdf_knownAnswer_isKpAliceOfTheWorkedExamples() {
    // docs/protocol.md, worked example "kp-alice": KDF(32 x 11, cred(UE, sip:alice@...)).
    SecretBytes kp = SoftwareCrypto.kdf256(fill(0x11),
        Contexts.cred(Role.UE, "sip:alice@ims.example.com"));
    assertEquals("26d5b8b1d67e0be495906946fab67d06436e73665d78c260a473a1d7ec9c03b4",
        HexFormat.of().formatHex(kp.toByteArray(ACCESS)));
  }

  @Test
  void kdf128_isThePrefixOfKdf256() {
    byte[] ctx = Contexts.auth();
    byte[] k256 = SoftwareCrypto.kdf(fill(1), ctx, 32).toByteArray(ACCESS);
    byte[] k128 = SoftwareCrypto.kdf(fill(1), ctx, 16).toByteArray(ACCESS);
    assertArrayEquals(Arrays.copyOf(k256, 16), k128);
  }

  @Test
  void wrap_unwrap_roundTrip_andWrongKekIsIntegrity() throws Exception {
    byte[] w = SoftwareCrypto.wrap(fill(2), fill(3));
    assertEquals(40, w.length);
    assertTrue(fill(3).equalContents(SoftwareCrypto.unwrap(fill(2), w)));
    ProtocolException e = assertThrows(ProtocolException.class,
        () -> SoftwareCrypto.unwrap(fill(4), w));
    assertEquals(ErrorCode.INTEGRITY, e.code());
  }

  @Test
  void secretBytes_neverPrintsItsValue_andComparesContents() {
    SecretBytes s = fill(0x5a);
    assertFalse(s.toString().toLowerCase().contains("5a5a"));
    assertEquals("SecretBytes[32 bytes]", s.toString());
    assertTrue(s.equalContents(fill(0x5a)));
    assertFalse(s.equalContents(fill(0x5b)));
    byte[] out = s.toByteArray(ACCESS);
    out[0] = 0;
    assertEquals(0x5a, s.toByteArray(ACCESS)[0], "copies out, not the internal array");
  }

  @Test
  void credentialAndSession_printOnlyWhoTheyBelongTo() {
    Credential c = new Credential(Role.UE, "sip:alice@ims.example.com", 1, fill(0x5a));
    assertEquals("Credential[UE sip:alice@ims.example.com v1]", c.toString());
  }
}
