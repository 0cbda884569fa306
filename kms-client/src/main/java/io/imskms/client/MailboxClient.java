package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.IdPairSecret;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.Offer;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import io.imskms.protocol.Wire;
import java.time.Clock;
import java.util.Optional;

/**
 * The mailbox role (Figure 17 steps 4 and 6/7, Figure 19). Security guarantees: the answer is
 * accepted only if MACed under a key derived from Km and this request's nonce; the mailbox never
 * holds anything from which K can be computed (it gets Ea(Ra, K) and the ticket, both wrapped
 * under keys it does not have).
 */
public final class MailboxClient {
  private final Clock clock;
  private final RandomSource random;

  public MailboxClient(Clock clock, RandomSource random) {
    this.clock = clock;
    this.random = random;
  }

  public static final class PendingKeyRequest implements PendingRequest {
    private final MailboxKeyRequest request;
    private final IdPairSecret secret;
    private final ClientSession session;

    PendingKeyRequest(MailboxKeyRequest request, IdPairSecret secret, ClientSession session) {
      this.request = request;
      this.secret = secret;
      this.session = session;
    }

    @Override
    public byte[] requestBytes() {
      return request.encode();
    }
  }

  /**
   * What the mailbox gets (step 6): the delivery for UE-A (relayed in step 7), the ticket to
   * store with the message, and Ke2m with Figure 19.
   */
  public record Grant(byte[] deliveryForUeA, byte[] ticket, Optional<SecretBytes> e2mKey) {}

  /** Figure 17 step 4: Em(ID-A, ID-Bm, nonceM, tsM) around UE-A's offer. */
  public PendingKeyRequest keyRequest(ClientSession mailbox, byte[] offerBytes, boolean wantE2m)
      throws ProtocolException {
    UeClient.requireRole(mailbox, Role.MAILBOX);
    Offer offer = Offer.decode(offerBytes);
    IdPairSecret secret = new IdPairSecret(offer.idA(), mailbox.id(), random.next(Wire.NONCE_LEN),
        clock.millis());
    byte[] iv = random.next(Wire.IV_LEN);
    MailboxKeyRequest unsealed = new MailboxKeyRequest(wantE2m, mailbox.id(),
        mailbox.btidBytes(), offerBytes, iv, new byte[0]);
    byte[] ct = SoftwareCrypto.gcmEncrypt(mailbox.requestKey(Wire.T_MAILBOX_KEY_REQUEST), iv,
        unsealed.aad(), secret.encode());
    return new PendingKeyRequest(new MailboxKeyRequest(wantE2m, mailbox.id(), mailbox.btidBytes(),
        offerBytes, iv, ct), secret, mailbox);
  }

  /** Figure 17 step 6: check the KMS's answer. */
  public Grant openResponse(PendingKeyRequest p, byte[] responseBytes) throws ProtocolException {
    Responses.throwIfError(responseBytes);
    MailboxKeyResponse r = MailboxKeyResponse.decode(responseBytes);
    SecretBytes macKey = p.session.derive(Contexts.respM(p.secret.nonce()));
    SoftwareCrypto.verifyHmac(macKey, r.body(), r.mac());
    Ticket.decode(r.ticket());
    if (p.request.wantE2m() != (r.wrappedKe2m() != null)) {
      throw new ProtocolException(ErrorCode.MALFORMED,
          "Ke2m presence does not match the request");
    }
    Optional<SecretBytes> e2m = Optional.empty();
    if (r.wrappedKe2m() != null) {
      SecretBytes kek = p.session.derive(Contexts.e2mM(p.secret.nonce(), p.secret.first(),
          p.secret.second()));
      e2m = Optional.of(SoftwareCrypto.unwrap(kek, r.wrappedKe2m()));
    }
    return new Grant(r.delivery(), r.ticket(), e2m);
  }
}
