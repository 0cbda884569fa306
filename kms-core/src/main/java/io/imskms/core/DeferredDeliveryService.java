package io.imskms.core;

import io.imskms.core.bootstrap.BootstrappedKey;
import io.imskms.core.bootstrap.Bootstrapper;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.replay.ReplayGuard;
import io.imskms.core.replay.ReplayException;
import io.imskms.core.replay.RequestNonces;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.WrapMode;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.IdPairSecret;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.Offer;
import io.imskms.protocol.OfferSecret;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import io.imskms.protocol.Role;
import io.imskms.protocol.Ticket;
import io.imskms.protocol.UeADelivery;
import io.imskms.protocol.Wire;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/**
 * The KMS side of TR 33.828 §7.4.3.3: bootstrapping (steps 1a/1b/1m), Figure 17 step 5 (the
 * mailbox's key request), Figure 18 step 5 (UE-B's retrieval) and Figure 19 (Ke2m). Every method
 * is one request: one {@link HsmSession}, closed (destroying every key it made) before returning.
 *
 * <p>Security guarantees: K, Ke2m, Ka, Kb, Km and Kp exist only as sensitive HSM session objects
 * and leave the HSM only wrapped (K under keys of Ka and Kb, Ke2m under keys of Ka and Km, Ka
 * under the ticket KEK). Nothing is stored per principal, pair or message: what a later request
 * needs travels in the B-TID, the ticket or the request. A refusal says only its
 * {@link ErrorCode}. docs/protocol.md specifies every byte.
 */
public final class DeferredDeliveryService {
  static final KeySpec REQUEST_KEY = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DECRYPT);
  /** The label of a request key's shared name: {@code imskms/v1/req-of-ks} ‖ type ‖ Ks's name. */
  private static final byte[] REQ_OF_KS =
      "imskms/v1/req-of-ks".getBytes(StandardCharsets.US_ASCII);
  static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP);
  /** The ticket KEK when issuing a ticket (Fig 17): it only wraps Ka. */
  static final KeySpec TICKET_WRAP_KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP);
  /** The same derivation when redeeming a ticket (Fig 18): it only unwraps Ka. */
  static final KeySpec TICKET_UNWRAP_KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.UNWRAP);
  /**
   * K and Ke2m: in the KMS they are only ever wrapped for a client, never used. The adapter
   * refuses a key without usage (KeySpec), so they get the one usage that computes nothing that
   * leaves the HSM: VERIFY (AES-CMAC), whose only answer is yes or no. ENCRYPT, SIGN or DERIVE
   * would make the session object an AES oracle under K while it exists.
   */
  static final KeySpec CLIENT_KEY = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.VERIFY)
      .wrappable();
  static final KeySpec RESPONSE_MAC = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN);
  static final KeySpec KA_FROM_TICKET = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);

  private final Hsm hsm;
  private final LongTermKeys keys;
  private final Bootstrapper bootstrapper;
  private final MailboxDirectory directory;
  private final ReplayGuard replay;
  private final Clock clock;
  private final DeferredDeliveryOptions options;

  public DeferredDeliveryService(Hsm hsm, LongTermKeys keys, Bootstrapper bootstrapper,
      MailboxDirectory directory, ReplayGuard replay, Clock clock,
      DeferredDeliveryOptions options) {
    this.hsm = Objects.requireNonNull(hsm);
    this.keys = Objects.requireNonNull(keys);
    this.bootstrapper = Objects.requireNonNull(bootstrapper);
    this.directory = Objects.requireNonNull(directory);
    this.replay = Objects.requireNonNull(replay);
    this.clock = Objects.requireNonNull(clock);
    this.options = Objects.requireNonNull(options);
  }

  @FunctionalInterface
  private interface Step {
    byte[] run(HsmSession s, RequestNonces nonces) throws KmsException, HsmException,
        ProtocolException, ReplayException;
  }

  @FunctionalInterface
  private interface Request {
    byte[] run(HsmSession s) throws KmsException;
  }

  /** One request, one HSM session, closed (destroying its keys) before returning. */
  private byte[] withSession(Request request) throws KmsException {
    try (HsmSession s = hsm.openSession()) {
      return request.run(s);
    } catch (HsmException e) {
      throw KmsException.of(e);
    }
  }

  /**
   * Runs one request. A request that fails for a reason on the server's side gives back the
   * nonces it consumed (section 8 of docs/protocol.md): it was not answered, and the client (or
   * the mailbox holding a stored offer) must be able to send it again.
   */
  private byte[] inSession(HsmSession s, Step step) throws KmsException {
    RequestNonces nonces = new RequestNonces(replay);
    try {
      return step.run(s, nonces);
    } catch (KmsException e) {
      throw released(nonces, e);
    } catch (HsmException e) {
      throw released(nonces, KmsException.of(e));
    } catch (ProtocolException e) {
      throw released(nonces, KmsException.of(e));
    } catch (ReplayException e) {
      throw released(nonces, KmsException.of(e));
    } catch (RuntimeException | Error e) {
      nonces.release();
      throw e;
    }
  }

  private static KmsException released(RequestNonces nonces, KmsException e) {
    if (e.serverSide()) {
      nonces.release();
    }
    return e;
  }

  /** Steps 1a, 1b, 1m: bootstrapping. */
  public byte[] bootstrap(byte[] request) throws KmsException {
    return withSession(s -> bootstrap(s, request));
  }

  byte[] bootstrap(HsmSession s, byte[] request) throws KmsException {
    return inSession(s, (x, nonces) -> bootstrapper.bootstrap(x, request));
  }

  /** Figure 17 steps 4 → 6 (with Figure 19 when asked): the mailbox's key request. */
  public byte[] mailboxKeyRequest(byte[] request) throws KmsException {
    return withSession(s -> mailboxKeyRequest(s, request));
  }

  byte[] mailboxKeyRequest(HsmSession hs, byte[] requestBytes) throws KmsException {
    return inSession(hs, (s, nonces) -> {
      MailboxKeyRequest req = MailboxKeyRequest.decode(requestBytes);
      Offer offer = Offer.decode(req.offer());

      // Fig 17 step 5: recover Km and check that the mailbox is who it claims.
      BootstrappedKey km = bootstrapper.recover(s, req.btidM(), false);
      if (km.role() != Role.MAILBOX || !km.id().equals(req.idBm())) {
        throw new KmsException(ErrorCode.NOT_AUTHORISED, "B-TID is not ID-Bm's mailbox B-TID");
      }
      // Fig 17 step 5: decrypt Em(ID-A, ID-Bm) with Km; compare with the plain identities.
      IdPairSecret em = IdPairSecret.decode(s.decryptGcm(
          requestKey(s, km, Wire.T_MAILBOX_KEY_REQUEST), req.iv(), req.aad(), req.ciphertext()));
      if (!em.first().equals(offer.idA()) || !em.second().equals(req.idBm())) {
        throw new KmsException(ErrorCode.IDENTITY_MISMATCH, "Em does not match the plain IDs");
      }
      nonces.checkAndRecord(KmsBootstrapper.principal(Role.MAILBOX, req.idBm()), em.nonce(),
          Instant.ofEpochMilli(em.timestampMs()));
      // Fig 17 step 5: is ID-Bm the registered mailbox of ID-B?
      Optional<String> mailboxOfB = directory.mailboxOf(offer.idB());
      if (mailboxOfB.isEmpty()) {
        throw new KmsException(ErrorCode.UNKNOWN_PRINCIPAL, "ID-B has no mailbox");
      }
      if (!mailboxOfB.get().equals(req.idBm())) {
        throw new KmsException(ErrorCode.WRONG_MAILBOX, "ID-Bm does not serve ID-B");
      }

      // Fig 17 step 5: recover Ka (wrappable: it goes into the ticket) and decrypt Ea.
      BootstrappedKey ka = bootstrapper.recover(s, offer.btidA(), true);
      if (ka.role() != Role.UE || !ka.id().equals(offer.idA())) {
        throw new KmsException(ErrorCode.IDENTITY_MISMATCH, "B-TID in the offer is not ID-A's");
      }
      OfferSecret ea = decryptEa(s, requestKey(s, ka, Wire.T_OFFER), offer);
      nonces.checkAndRecord(KmsBootstrapper.principal(Role.UE, offer.idA()), ea.nonce(),
          Instant.ofEpochMilli(ea.timestampMs()));

      // Fig 17 step 5: K = KDF(media-root, media(Ra, ID-A, ID-B)) inside the HSM.
      int mediaVersion = keys.activeVersion(KeyPurpose.MEDIA_ROOT);
      byte[] ra = ea.ra();
      KeyRef k = s.deriveKey(keys.key(KeyPurpose.MEDIA_ROOT, mediaVersion),
          Contexts.media(ra, offer.idA(), offer.idB()), CLIENT_KEY);
      // Fig 17 step 5: Ea(Ra, K) = KW(KEK_A, K), KEK_A bound to Ra and nonceA.
      KeyRef kekA = s.deriveKey(ka.sessionKey(),
          Contexts.respA(ra, ea.nonce(), offer.idA(), offer.idB()), KEK);
      byte[] wrappedK = s.wrapKey(kekA, k, WrapMode.KW);
      Arrays.fill(ra, (byte) 0);

      // Fig 17 step 5: Ekms(Ka) = header ‖ KW(KDF(Kkms, ticketKek(header)), Ka).
      int ticketVersion = keys.activeVersion(KeyPurpose.TICKET_ROOT);
      Ticket header = new Ticket(offer.idA(), offer.idB(), req.idBm(),
          Contexts.sha256(req.offer()), clock.millis() + options.ticketRetention().toMillis(),
          ticketVersion, mediaVersion, new byte[Wire.WRAPPED_KEY_LEN]);
      KeyRef kekT = s.deriveKey(keys.key(KeyPurpose.TICKET_ROOT, ticketVersion),
          Contexts.ticketKek(header.header()), TICKET_WRAP_KEK);
      byte[] ticket = new Ticket(header.idA(), header.idB(), header.idBm(), header.offerHash(),
          header.notAfterMs(), ticketVersion, mediaVersion, s.wrapKey(kekT, ka.sessionKey(),
          WrapMode.KW)).encode();

      // Fig 19: Ke2m made in the HSM, wrapped for UE-A (under Ka) and for the mailbox (under Km).
      byte[] e2mForA = null;
      byte[] e2mForM = null;
      if (req.wantE2m()) {
        KeyRef ke2m = s.generateKey(CLIENT_KEY);
        e2mForA = s.wrapKey(s.deriveKey(ka.sessionKey(),
            Contexts.e2mA(ea.nonce(), offer.idA(), req.idBm()), KEK), ke2m, WrapMode.KW);
        e2mForM = s.wrapKey(s.deriveKey(km.sessionKey(),
            Contexts.e2mM(em.nonce(), offer.idA(), req.idBm()), KEK), ke2m, WrapMode.KW);
      }

      // Fig 17 step 6: the answer, MACed under a key of Km bound to the mailbox's nonce.
      byte[] delivery = new UeADelivery(wrappedK, e2mForA).encode();
      MailboxKeyResponse unsigned = new MailboxKeyResponse(delivery, ticket, e2mForM,
          new byte[Wire.MAC_LEN]);
      byte[] mac = s.sign(s.deriveKey(km.sessionKey(), Contexts.respM(em.nonce()), RESPONSE_MAC),
          unsigned.body());
      return new MailboxKeyResponse(delivery, ticket, e2mForM, mac).encode();
    });
  }

  /** Figure 18 steps 4 → 6: UE-B retrieves K with the ticket. */
  public byte[] retrieveMediaKey(byte[] request) throws KmsException {
    return withSession(s -> retrieveMediaKey(s, request));
  }

  byte[] retrieveMediaKey(HsmSession hs, byte[] requestBytes) throws KmsException {
    return inSession(hs, (s, nonces) -> {
      RetrievalRequest req = RetrievalRequest.decode(requestBytes);
      Offer offer = Offer.decode(req.offer());
      Ticket ticket = Ticket.decode(req.ticket());

      // Fig 18 step 5: recover Kb; only ID-B itself, as a UE, may retrieve (not its mailbox,
      // not another UE holding B's ticket).
      BootstrappedKey kb = bootstrapper.recover(s, req.btidB(), false);
      if (kb.role() != Role.UE || !kb.id().equals(offer.idB())) {
        throw new KmsException(ErrorCode.NOT_AUTHORISED, "caller is not the recipient ID-B");
      }
      // Fig 18 step 5: decrypt Eb(ID-A, ID-B) with Kb; compare with the plain identities.
      IdPairSecret eb = IdPairSecret.decode(s.decryptGcm(
          requestKey(s, kb, Wire.T_RETRIEVAL_REQUEST), req.iv(), req.aad(), req.ciphertext()));
      if (!eb.first().equals(offer.idA()) || !eb.second().equals(offer.idB())) {
        throw new KmsException(ErrorCode.IDENTITY_MISMATCH, "Eb does not match the plain IDs");
      }
      nonces.checkAndRecord(KmsBootstrapper.principal(Role.UE, offer.idB()), eb.nonce(),
          Instant.ofEpochMilli(eb.timestampMs()));

      // Fig 18 step 5: Ka from Ekms(Ka) with Kkms; the KEK depends on the whole header, so any
      // change to it makes the unwrap fail (INTEGRITY). Only then is the header trusted.
      KeyRef kekT = s.deriveKey(keys.key(KeyPurpose.TICKET_ROOT, ticket.ticketRootVersion()),
          Contexts.ticketKek(ticket.header()), TICKET_UNWRAP_KEK);
      KeyRef ka = s.unwrapKey(kekT, ticket.wrappedKa(), WrapMode.KW, KA_FROM_TICKET);
      if (clock.millis() > ticket.notAfterMs()) {
        throw new KmsException(ErrorCode.EXPIRED_TICKET, "ticket retention is over");
      }
      if (!ticket.idA().equals(offer.idA()) || !ticket.idB().equals(offer.idB())) {
        throw new KmsException(ErrorCode.IDENTITY_MISMATCH, "ticket is for another pair");
      }
      if (!MessageDigest.isEqual(ticket.offerHash(), Contexts.sha256(req.offer()))) {
        throw new KmsException(ErrorCode.INTEGRITY, "ticket was issued for another offer");
      }
      // Fig 18 step 5: decrypt Ea with Ka. No freshness check: Ea is old by design (it was
      // checked for freshness and replay at Figure 17 step 5 and is bound to the ticket).
      OfferSecret ea = decryptEa(s,
          s.deriveKey(ka, Contexts.request(Wire.T_OFFER), REQUEST_KEY), offer);
      // Fig 18 step 5: re-derive K = KDF(media-root_v, media(Ra, ID-A, ID-B)).
      byte[] ra = ea.ra();
      KeyRef k = s.deriveKey(keys.key(KeyPurpose.MEDIA_ROOT, ticket.mediaRootVersion()),
          Contexts.media(ra, offer.idA(), offer.idB()), CLIENT_KEY);
      Arrays.fill(ra, (byte) 0);
      // Fig 18 step 6: Eb(K) = KW(KEK_B, K), KEK_B bound to nonceB and the ticket.
      KeyRef kekB = s.deriveKey(kb.sessionKey(),
          Contexts.respB(eb.nonce(), req.ticket(), offer.idA(), offer.idB()), KEK);
      return new RetrievalResponse(s.wrapKey(kekB, k, WrapMode.KW)).encode();
    });
  }

  /**
   * The request key KDF(Ks, request(type)) of a key recovered from a B-TID. When Ks is shared on
   * this node, so is its request key, under Ks's name with the label {@code
   * imskms/v1/req-of-ks} and the message type: it is a function of Ks and the type alone, so a
   * later request with the same B-TID bytes finds it and makes no derivation (docs/protocol.md
   * section 12). The name always means the same base key (the B-TID bytes and wrappability name
   * Ks), context and spec, as deriveShared requires. It is looked up only after {@code
   * recover} made every check of the request's B-TID.
   */
  private static KeyRef requestKey(HsmSession s, BootstrappedKey ks, int type)
      throws HsmException {
    byte[] context = Contexts.request(type);
    if (ks.sharedName() == null) {
      return s.deriveKey(ks.sessionKey(), context, REQUEST_KEY);
    }
    byte[] name = KmsBootstrapper.sharedKeyName(REQ_OF_KS, type, ks.sharedName());
    KeyRef found = s.findShared(name);
    return found != null ? found
        : s.deriveShared(ks.sessionKey(), context, REQUEST_KEY, name, ks.notAfterMs());
  }

  /** Decrypts Ea under its request key KDF(Ka, request(0x11)); checks the identities in it. */
  private static OfferSecret decryptEa(HsmSession s, KeyRef requestKey, Offer offer)
      throws HsmException, ProtocolException, KmsException {
    OfferSecret ea = OfferSecret.decode(s.decryptGcm(requestKey,
        offer.iv(), offer.header(), offer.ciphertext()));
    if (!ea.idA().equals(offer.idA()) || !ea.idB().equals(offer.idB())) {
      throw new KmsException(ErrorCode.IDENTITY_MISMATCH, "Ea does not match the plain IDs");
    }
    return ea;
  }
}
