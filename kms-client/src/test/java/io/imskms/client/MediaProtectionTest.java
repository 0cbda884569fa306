package io.imskms.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MediaProtectionTest {
  private static final SecretBytes K = SoftwareCryptoTest.fill(7);
  private static final byte[] MSG = new byte[16];

  @Test
  void roundTrip_forEverySizeAroundChunkBoundaries() throws Exception {
    Random r = new Random(1);
    for (int size : new int[] {0, 1, 15, 16, 17, 31, 32, 33, 1000}) {
      byte[] media = new byte[size];
      r.nextBytes(media);
      byte[] c = MediaProtection.encrypt(K, MSG, media, 16);
      assertArrayEquals(media, MediaProtection.decrypt(K, c), "size " + size);
    }
  }

  /** Offsets of the chunks (u32 length ‖ ciphertext) in a container. */
  static int[] chunkOffsets(byte[] c) {
    int[] out = new int[64];
    int n = 0;
    int pos = 4 + 1 + 16 + 4;
    while (pos < c.length) {
      out[n++] = pos;
      pos += 4 + ByteBuffer.wrap(c, pos, 4).getInt();
    }
    return Arrays.copyOf(out, n);
  }

  @Test
  void reorderedDroppedTruncatedOrMovedChunks_areRejected() throws Exception {
    byte[] media = new byte[48];
    byte[] c = MediaProtection.encrypt(K, MSG, media, 16); // three chunks of 16
    int[] at = chunkOffsets(c);
    assertEquals(3, at.length);
    int chunk = at[1] - at[0];
    // Swap chunks 0 and 1.
    byte[] swapped = c.clone();
    System.arraycopy(c, at[1], swapped, at[0], chunk);
    System.arraycopy(c, at[0], swapped, at[1], chunk);
    assertThrows(ProtocolException.class, () -> MediaProtection.decrypt(K, swapped));
    // Drop the last chunk (chunk 1 is not marked last).
    byte[] dropped = Arrays.copyOf(c, at[2]);
    assertThrows(ProtocolException.class, () -> MediaProtection.decrypt(K, dropped));
    // Trailing bytes after the last chunk.
    assertThrows(ProtocolException.class,
        () -> MediaProtection.decrypt(K, Arrays.copyOf(c, c.length + 1)));
    // Another message id in the header.
    byte[] moved = c.clone();
    moved[5] ^= 1;
    ProtocolException e = assertThrows(ProtocolException.class,
        () -> MediaProtection.decrypt(K, moved));
    assertEquals(ErrorCode.INTEGRITY, e.code());
    // Another key.
    assertThrows(ProtocolException.class,
        () -> MediaProtection.decrypt(SoftwareCryptoTest.fill(8), c));
  }

  @Test
  void uploadTag_bindsBothIdentitiesAndTheContainer() throws Exception {
    SecretBytes ke2m = SoftwareCryptoTest.fill(0x66);
    String a = "sip:alice@ims.example.com";
    String m = "sip:vm.bob@ims.example.com";
    byte[] c = MediaProtection.encrypt(K, MSG, new byte[10], 16);
    byte[] tag = UploadProtection.uploadTag(ke2m, a, m, c);
    UploadProtection.verifyUpload(ke2m, a, m, c, tag);
    assertThrows(ProtocolException.class,
        () -> UploadProtection.verifyUpload(ke2m, a, "sip:vm.carol@ims.example.com", c, tag));
    byte[] altered = c.clone();
    altered[altered.length - 1] ^= 1;
    assertThrows(ProtocolException.class,
        () -> UploadProtection.verifyUpload(ke2m, a, m, altered, tag));
    byte[] ack = UploadProtection.ack(ke2m, a, m, tag);
    UploadProtection.verifyAck(ke2m, a, m, tag, ack);
    assertThrows(ProtocolException.class,
        () -> UploadProtection.verifyAck(SoftwareCryptoTest.fill(0x67), a, m, tag, ack));
  }
}
