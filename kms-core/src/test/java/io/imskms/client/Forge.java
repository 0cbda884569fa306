package io.imskms.client;

import io.imskms.protocol.IdPairSecret;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.Offer;
import io.imskms.protocol.OfferSecret;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Wire;
import java.security.SecureRandom;

/**
 * Test-only access to the SDK's internals, to build requests an honest client would never send
 * (inconsistent identities, another principal's credential, a role calling the wrong step).
 */
public final class Forge {
  private static final SecureRandom RANDOM = new SecureRandom();

  private Forge() {}

  public static byte[] random(int n) {
    byte[] b = new byte[n];
    RANDOM.nextBytes(b);
    return b;
  }

  public static SecretBytes kp(Credential c) {
    return c.kp();
  }

  public static SecretBytes ks(ClientSession s) {
    return s.ks();
  }

  /** An offer whose plain and encrypted identities may differ. */
  public static byte[] offer(ClientSession a, String plainA, String plainB, String innerA,
      String innerB, long ts) {
    return sealedOffer(a, plainA, plainB,
        new OfferSecret(random(32), innerA, innerB, random(16), ts).encode());
  }

  /** An offer whose Ea plaintext is exactly {@code secret} (e.g. with extra bytes). */
  public static byte[] sealedOffer(ClientSession a, String plainA, String plainB,
      byte[] secret) {
    byte[] iv = random(Wire.IV_LEN);
    Offer h = new Offer(plainA, plainB, a.btidBytes(), iv, new byte[0]);
    byte[] ct = SoftwareCrypto.gcmEncrypt(a.requestKey(Wire.T_OFFER), iv, h.header(), secret);
    return new Offer(plainA, plainB, a.btidBytes(), iv, ct).encode();
  }

  /** A mailbox key request with free choice of the plain ID-Bm and Em's contents. */
  public static byte[] mailboxRequest(ClientSession m, byte[] offer, String plainBm,
      String innerA, String innerBm, long ts, boolean wantE2m) {
    return sealedMailboxRequest(m, offer, plainBm,
        new IdPairSecret(innerA, innerBm, random(16), ts).encode(), wantE2m);
  }

  /** A mailbox key request whose Em plaintext is exactly {@code secret} (e.g. with extra bytes). */
  public static byte[] sealedMailboxRequest(ClientSession m, byte[] offer, String plainBm,
      byte[] secret, boolean wantE2m) {
    byte[] iv = random(Wire.IV_LEN);
    MailboxKeyRequest u = new MailboxKeyRequest(wantE2m, plainBm, m.btidBytes(), offer, iv,
        new byte[0]);
    byte[] ct = SoftwareCrypto.gcmEncrypt(m.requestKey(Wire.T_MAILBOX_KEY_REQUEST), iv, u.aad(),
        secret);
    return new MailboxKeyRequest(wantE2m, plainBm, m.btidBytes(), offer, iv, ct).encode();
  }

  /** A retrieval request from any session, with free choice of Eb's contents. */
  public static byte[] retrieval(ClientSession s, byte[] offer, byte[] ticket, String innerA,
      String innerB, long ts) {
    return sealedRetrieval(s, offer, ticket,
        new IdPairSecret(innerA, innerB, random(16), ts).encode());
  }

  /** A retrieval request whose Eb plaintext is exactly {@code secret} (e.g. cut short). */
  public static byte[] sealedRetrieval(ClientSession s, byte[] offer, byte[] ticket,
      byte[] secret) {
    byte[] iv = random(Wire.IV_LEN);
    RetrievalRequest u = new RetrievalRequest(s.btidBytes(), offer, ticket, iv, new byte[0]);
    byte[] ct = SoftwareCrypto.gcmEncrypt(s.requestKey(Wire.T_RETRIEVAL_REQUEST), iv, u.aad(),
        secret);
    return new RetrievalRequest(s.btidBytes(), offer, ticket, iv, ct).encode();
  }
}
