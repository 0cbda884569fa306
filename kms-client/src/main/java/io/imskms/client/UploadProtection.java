package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.Labels;
import io.imskms.protocol.ProtocolException;

/**
 * Figure 19: UE-A ↔ mailbox protection of the deferred-media upload with Ke2m. The upload tag
 * authenticates UE-A to the mailbox and protects the integrity of the container, the ticket-free
 * upload and both identities; the mailbox's acknowledgement authenticates the mailbox to UE-A and
 * confirms exactly what it stored. Keys: Kup = KDF(Ke2m, upload()). The media itself is already
 * encrypted under K, which the mailbox does not have.
 */
public final class UploadProtection {
  private UploadProtection() {}

  private static SecretBytes kup(SecretBytes ke2m) {
    return SoftwareCrypto.kdf256(ke2m, Contexts.of(Labels.UPLOAD_KEY));
  }

  private static byte[] utf8(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** tag = HMAC(Kup, uploadTag(ID-A, ID-Bm, msgId, SHA-256(container))). */
  public static byte[] uploadTag(SecretBytes ke2m, String idA, String idBm, byte[] container)
      throws ProtocolException {
    byte[] msgId = MediaProtection.messageId(container);
    return SoftwareCrypto.hmac(kup(ke2m), Contexts.of(Labels.UPLOAD_TAG, utf8(idA), utf8(idBm),
        msgId, Contexts.sha256(container)));
  }

  /** The mailbox's check of an upload; INTEGRITY if the tag does not verify. */
  public static void verifyUpload(SecretBytes ke2m, String idA, String idBm, byte[] container,
      byte[] tag) throws ProtocolException {
    SoftwareCrypto.verifyHmac(kup(ke2m), Contexts.of(Labels.UPLOAD_TAG, utf8(idA), utf8(idBm),
        MediaProtection.messageId(container), Contexts.sha256(container)), tag);
  }

  /** ack = HMAC(Kup, uploadAck(ID-A, ID-Bm, upload tag)). */
  public static byte[] ack(SecretBytes ke2m, String idA, String idBm, byte[] uploadTag) {
    return SoftwareCrypto.hmac(kup(ke2m), Contexts.of(Labels.UPLOAD_ACK, utf8(idA), utf8(idBm),
        uploadTag));
  }

  public static void verifyAck(SecretBytes ke2m, String idA, String idBm, byte[] uploadTag,
      byte[] ack) throws ProtocolException {
    SoftwareCrypto.verifyHmac(kup(ke2m), Contexts.of(Labels.UPLOAD_ACK, utf8(idA), utf8(idBm),
        uploadTag), ack);
  }
}
