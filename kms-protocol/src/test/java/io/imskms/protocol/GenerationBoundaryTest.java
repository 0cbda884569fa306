package io.imskms.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The credential generation at its edges (docs/protocol.md): generation 1 and
 * {@link Wire#MAX_GENERATION} decode, and the u32 in the cred context is big-endian in all four
 * bytes. Written where mutation testing showed both bounds and the byte order going unnoticed
 * (docs/assurance.md): the protocol's other tests only use generations below 256.
 */
class GenerationBoundaryTest {
  private static final String ID = "sip:alice@ims.example.com";

  @Test
  void btidOfGeneration1AndOfTheMaximum_roundTrip() throws Exception {
    for (int g : new int[] {1, Wire.MAX_GENERATION}) {
      Btid b = new Btid(Role.UE, ID, new byte[Wire.RAND_LEN], 1_800_000_000_000L, 1, 1,
          new byte[Wire.MAC_LEN], g);
      Btid back = Btid.decode(b.encode());
      assertEquals(g, back.generation());
      assertArrayEquals(b.encode(), back.encode());
    }
  }

  @Test
  void credContext_endsWithTheGenerationBigEndian() {
    byte[] c = Contexts.cred(Role.UE, ID, 0x01020304);
    assertArrayEquals(new byte[] {1, 2, 3, 4}, Arrays.copyOfRange(c, c.length - 4, c.length));
    assertArrayEquals(Contexts.cred(Role.UE, ID), Contexts.cred(Role.UE, ID, 0));
  }
}
