package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.IdPairSecret;
import io.imskms.protocol.Identity;
import io.imskms.protocol.Offer;
import io.imskms.protocol.OfferSecret;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import io.imskms.protocol.UeADelivery;
import io.imskms.protocol.Wire;
import java.time.Clock;
import java.util.Optional;

/**
 * The UE roles: UE-A (Figure 17 steps 2a/2b and 8, Figure 19) and UE-B (Figure 18 steps 4 and 6).
 * Security guarantees: K is accepted only if it was wrapped under a key bound to this offer's Ra
 * and nonce (UE-A) or to this request's nonce and ticket (UE-B); Ke2m only under its own,
 * separately derived KEK, so one cannot be passed off as the other.
 */
public final class UeClient {
  private final Clock clock;
  private final RandomSource random;

  public UeClient(Clock clock, RandomSource random) {
    this.clock = clock;
    this.random = random;
  }

  /** UE-A's offer and what it must remember to open the answer. */
  public static final class OutgoingOffer {
    private final Offer offer;
    private final OfferSecret secret;
    private final ClientSession session;

    OutgoingOffer(Offer offer, OfferSecret secret, ClientSession session) {
      this.offer = offer;
      this.secret = secret;
      this.session = session;
    }

    /** The bytes for the INVITE (plain ID-A, ID-B, B-TID and Ea). */
    public byte[] offerBytes() {
      return offer.encode();
    }

    @Override
    public String toString() {
      return "OutgoingOffer[" + offer.idA() + " -> " + offer.idB() + "]";
    }
  }

  /** The keys UE-A obtains (Figure 17 step 8; Ke2m with Figure 19). */
  public record DeliveredKeys(SecretBytes mediaKey, Optional<SecretBytes> e2mKey) {}

  /** Figure 17 steps 2a/2b: draw Ra and make Ea(Ra, ID-A, ID-B, nonceA, tsA). */
  public OutgoingOffer offer(ClientSession ueA, String idB) throws ProtocolException {
    requireRole(ueA, Role.UE);
    String b = Identity.normalise(idB);
    OfferSecret secret = new OfferSecret(random.next(Wire.RA_LEN), ueA.id(), b,
        random.next(Wire.NONCE_LEN), clock.millis());
    byte[] iv = random.next(Wire.IV_LEN);
    Offer header = new Offer(ueA.id(), b, ueA.btidBytes(), iv, new byte[0]);
    byte[] ct = SoftwareCrypto.gcmEncrypt(ueA.requestKey(Wire.T_OFFER), iv, header.header(),
        secret.encode());
    return new OutgoingOffer(new Offer(ueA.id(), b, ueA.btidBytes(), iv, ct), secret, ueA);
  }

  /** Figure 17 step 8: open Ea(Ra, K) (and Ke2m) relayed by the mailbox. */
  public DeliveredKeys openDelivery(OutgoingOffer o, byte[] deliveryBytes, String idBm)
      throws ProtocolException {
    Responses.throwIfError(deliveryBytes);
    UeADelivery d = UeADelivery.decode(deliveryBytes);
    OfferSecret s = o.secret;
    SecretBytes kekA = o.session.derive(Contexts.respA(s.ra(), s.nonce(), s.idA(), s.idB()));
    SecretBytes k = SoftwareCrypto.unwrap(kekA, d.wrappedK());
    Optional<SecretBytes> e2m = Optional.empty();
    if (d.wrappedKe2m() != null) {
      if (idBm == null) {
        throw new ProtocolException(ErrorCode.MALFORMED, "Ke2m present but no mailbox named");
      }
      SecretBytes kek = o.session.derive(Contexts.e2mA(s.nonce(), s.idA(),
          Identity.normalise(idBm)));
      e2m = Optional.of(SoftwareCrypto.unwrap(kek, d.wrappedKe2m()));
    }
    return new DeliveredKeys(k, e2m);
  }

  /** UE-B's retrieval request and what it must remember to open the answer. */
  public static final class PendingRetrieval implements PendingRequest {
    private final RetrievalRequest request;
    private final IdPairSecret secret;
    private final ClientSession session;

    PendingRetrieval(RetrievalRequest request, IdPairSecret secret, ClientSession session) {
      this.request = request;
      this.secret = secret;
      this.session = session;
    }

    @Override
    public byte[] requestBytes() {
      return request.encode();
    }
  }

  /** Figure 18 step 4: Eb(ID-A, ID-B, nonceB, tsB) with the offer and ticket from the mailbox. */
  public PendingRetrieval retrieval(ClientSession ueB, byte[] offerBytes, byte[] ticketBytes)
      throws ProtocolException {
    requireRole(ueB, Role.UE);
    Offer offer = Offer.decode(offerBytes);
    Ticket.decode(ticketBytes);
    if (!offer.idB().equals(ueB.id())) {
      throw new ProtocolException(ErrorCode.IDENTITY_MISMATCH, "the offer is for someone else");
    }
    IdPairSecret secret = new IdPairSecret(offer.idA(), offer.idB(), random.next(Wire.NONCE_LEN),
        clock.millis());
    byte[] iv = random.next(Wire.IV_LEN);
    RetrievalRequest unsealed = new RetrievalRequest(ueB.btidBytes(), offerBytes, ticketBytes, iv,
        new byte[0]);
    byte[] ct = SoftwareCrypto.gcmEncrypt(ueB.requestKey(Wire.T_RETRIEVAL_REQUEST), iv,
        unsealed.aad(), secret.encode());
    return new PendingRetrieval(new RetrievalRequest(ueB.btidBytes(), offerBytes, ticketBytes, iv,
        ct), secret, ueB);
  }

  /** Figure 18 step 6: open Eb(K). */
  public SecretBytes openRetrieval(PendingRetrieval p, byte[] responseBytes)
      throws ProtocolException {
    Responses.throwIfError(responseBytes);
    RetrievalResponse r = RetrievalResponse.decode(responseBytes);
    SecretBytes kekB = p.session.derive(Contexts.respB(p.secret.nonce(), p.request.ticket(),
        p.secret.first(), p.secret.second()));
    return SoftwareCrypto.unwrap(kekB, r.wrappedK());
  }

  static void requireRole(ClientSession s, Role role) throws ProtocolException {
    if (s.role() != role) {
      throw new ProtocolException(ErrorCode.NOT_AUTHORISED, "this step is for a " + role);
    }
  }
}
