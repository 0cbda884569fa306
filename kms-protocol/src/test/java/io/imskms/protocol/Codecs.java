package io.imskms.protocol;

import java.util.List;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * Every decoder of kms-protocol with its encoder and a generator of valid values, for the fuzz
 * properties. A new message type belongs here: {@code ProtocolFuzzTest} then covers it.
 */
final class Codecs {
  private Codecs() {}

  @FunctionalInterface
  interface Decoder {
    Object decode(byte[] b) throws ProtocolException;
  }

  /**
   * One structure: its decoder, how to re-encode a decoded value, and valid values.
   *
   * @param headed whether it starts with {@code version ‖ type} (the GCM plaintexts do not)
   */
  record Codec(String name, int type, boolean headed, Decoder decoder,
      Function<Object, byte[]> encoder, Arbitrary<byte[]> valid) {

    byte[] reencode(Object decoded) {
      return encoder.apply(decoded);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  // ---- field generators ----

  static Arbitrary<byte[]> bytes(int len) {
    return Arbitraries.bytes().array(byte[].class).ofSize(len);
  }

  static Arbitrary<byte[]> bytes(int min, int max) {
    return Arbitraries.bytes().array(byte[].class).ofMinSize(min).ofMaxSize(max);
  }

  /** Identities in normal form: sip/sips with user and host, tel, with non-ASCII user parts. */
  static Arbitrary<String> identities() {
    Arbitrary<String> user = Arbitraries.strings().withCharRange('a', 'z').withCharRange('A', 'Z')
        .withCharRange('0', '9').withChars('.', '-', '_', '+', 'é', 'ß', '中', '!')
        .ofMinLength(1).ofMaxLength(40);
    Arbitrary<String> host = Arbitraries.strings().withCharRange('a', 'z').withChars('.', '-')
        .ofMinLength(1).ofMaxLength(40);
    Arbitrary<String> params = Arbitraries.of("", ";transport=tcp", ":5060", "?X=Y", ";User=Phone");
    Arbitrary<String> sip = Combinators.combine(Arbitraries.of("sip", "sips"), user, host, params)
        .as((s, u, h, p) -> s + ":" + u + "@" + h + p);
    Arbitrary<String> tel = Arbitraries.strings().withCharRange('0', '9').withChars('+', '-', ';',
        'p', '=').ofMinLength(1).ofMaxLength(30).map(t -> "tel:" + t);
    Arbitrary<String> longest = Arbitraries.just("sip:" + "u".repeat(Identity.MAX_BYTES - 6)
        + "@h");
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(8, sip), net.jqwik.api.Tuple.of(2, tel),
        net.jqwik.api.Tuple.of(1, longest))
        .filter(Identity::isNormal);
  }

  static Arbitrary<Role> roles() {
    return Arbitraries.of(Role.class);
  }

  static Arbitrary<Integer> versions() {
    return Arbitraries.oneOf(Arbitraries.integers().between(1, 9999),
        Arbitraries.of(1, Integer.MAX_VALUE));
  }

  static Arbitrary<byte[]> ciphertexts() {
    return bytes(Wire.GCM_TAG_LEN + 1, Wire.MAX_CIPHERTEXT);
  }

  static Arbitrary<Btid> btids() {
    return Combinators.combine(roles(), identities(), bytes(Wire.RAND_LEN), Arbitraries.longs(),
        versions(), versions(), bytes(Wire.MAC_LEN)).as(Btid::new);
  }

  static Arbitrary<byte[]> btidBytes() {
    return btids().map(Btid::encode);
  }

  static Arbitrary<Offer> offers() {
    return Combinators.combine(identities(), identities(), btidBytes(), bytes(Wire.IV_LEN),
        ciphertexts()).as(Offer::new).filter(o -> o.encode().length <= Wire.MAX_OFFER);
  }

  static Arbitrary<Ticket> tickets() {
    return Combinators.combine(identities(), identities(), identities(), bytes(Wire.HASH_LEN),
        Arbitraries.longs(), versions(), versions(), bytes(Wire.WRAPPED_KEY_LEN)).as(Ticket::new);
  }

  static Arbitrary<UeADelivery> deliveries() {
    return Combinators.combine(bytes(Wire.WRAPPED_KEY_LEN),
        bytes(Wire.WRAPPED_KEY_LEN).injectNull(0.5)).as(UeADelivery::new);
  }

  /** The generator's point of P-256 and a few multiples: points a device could send. */
  static Arbitrary<byte[]> p256Points() {
    return Arbitraries.of(P256Points.SAMPLE);
  }

  // ---- the table ----

  static List<Codec> all() {
    return List.of(
        new Codec("BootstrapRequest", Wire.T_BOOTSTRAP_REQUEST, true, BootstrapRequest::decode,
            o -> ((BootstrapRequest) o).encode(),
            Combinators.combine(roles(), identities(), versions(), bytes(Wire.NONCE_LEN),
                Arbitraries.longs(), bytes(Wire.MAC_LEN)).as(BootstrapRequest::new)
                .map(BootstrapRequest::encode)),
        new Codec("BootstrapResponse", Wire.T_BOOTSTRAP_RESPONSE, true,
            BootstrapResponse::decode, o -> ((BootstrapResponse) o).encode(),
            Combinators.combine(btidBytes(), bytes(Wire.MAC_LEN)).as(BootstrapResponse::new)
                .map(BootstrapResponse::encode)),
        new Codec("Btid", Wire.T_BTID, true, Btid::decode, o -> ((Btid) o).encode(),
            btidBytes()),
        new Codec("EnrolmentRequest", Wire.T_ENROLMENT_REQUEST, true, EnrolmentRequest::decode,
            o -> ((EnrolmentRequest) o).encode(),
            Combinators.combine(roles(), identities(), p256Points()).as(EnrolmentRequest::new)
                .map(EnrolmentRequest::encode)),
        new Codec("EnrolmentFile", Wire.T_ENROLMENT_FILE, true, EnrolmentFile::decode,
            o -> ((EnrolmentFile) o).encode(),
            Combinators.combine(roles(), identities(), versions(), bytes(Wire.EC_POINT_LEN),
                bytes(Wire.WRAPPED_KEY_LEN)).as(EnrolmentFile::new).map(EnrolmentFile::encode)),
        new Codec("Offer", Wire.T_OFFER, true, Offer::decode, o -> ((Offer) o).encode(),
            offers().map(Offer::encode)),
        new Codec("OfferSecret", -1, false, OfferSecret::decode,
            o -> ((OfferSecret) o).encode(),
            Combinators.combine(bytes(Wire.RA_LEN), identities(), identities(),
                bytes(Wire.NONCE_LEN), Arbitraries.longs()).as(OfferSecret::new)
                .map(OfferSecret::encode)),
        new Codec("IdPairSecret", -1, false, IdPairSecret::decode,
            o -> ((IdPairSecret) o).encode(),
            Combinators.combine(identities(), identities(), bytes(Wire.NONCE_LEN),
                Arbitraries.longs()).as(IdPairSecret::new).map(IdPairSecret::encode)),
        new Codec("MailboxKeyRequest", Wire.T_MAILBOX_KEY_REQUEST, true,
            MailboxKeyRequest::decode, o -> ((MailboxKeyRequest) o).encode(),
            Combinators.combine(Arbitraries.of(true, false), identities(), btidBytes(),
                offers().map(Offer::encode), bytes(Wire.IV_LEN), ciphertexts())
                .as(MailboxKeyRequest::new).map(MailboxKeyRequest::encode)),
        new Codec("MailboxKeyResponse", Wire.T_MAILBOX_KEY_RESPONSE, true,
            MailboxKeyResponse::decode, o -> ((MailboxKeyResponse) o).encode(),
            Combinators.combine(deliveries().map(UeADelivery::encode),
                tickets().map(Ticket::encode), bytes(Wire.WRAPPED_KEY_LEN).injectNull(0.5),
                bytes(Wire.MAC_LEN)).as(MailboxKeyResponse::new)
                .map(MailboxKeyResponse::encode)),
        new Codec("UeADelivery", Wire.T_UE_A_DELIVERY, true, UeADelivery::decode,
            o -> ((UeADelivery) o).encode(), deliveries().map(UeADelivery::encode)),
        new Codec("Ticket", Wire.T_TICKET, true, Ticket::decode, o -> ((Ticket) o).encode(),
            tickets().map(Ticket::encode)),
        new Codec("RetrievalRequest", Wire.T_RETRIEVAL_REQUEST, true, RetrievalRequest::decode,
            o -> ((RetrievalRequest) o).encode(),
            Combinators.combine(btidBytes(), offers().map(Offer::encode),
                tickets().map(Ticket::encode), bytes(Wire.IV_LEN), ciphertexts())
                .as(RetrievalRequest::new).map(RetrievalRequest::encode)),
        new Codec("RetrievalResponse", Wire.T_RETRIEVAL_RESPONSE, true,
            RetrievalResponse::decode, o -> ((RetrievalResponse) o).encode(),
            bytes(Wire.WRAPPED_KEY_LEN).map(w -> new RetrievalResponse(w).encode())),
        new Codec("ErrorResponse", Wire.T_ERROR, true, ErrorResponse::decode,
            o -> ((ErrorResponse) o).encode(),
            Arbitraries.of(ErrorCode.class).map(c -> new ErrorResponse(c).encode())));
  }
}
