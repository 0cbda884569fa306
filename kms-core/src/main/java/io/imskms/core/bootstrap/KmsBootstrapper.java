package io.imskms.core.bootstrap;

import io.imskms.core.KmsException;
import io.imskms.core.LongTermKeys;
import io.imskms.core.ServerRandom;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.principals.Principals;
import io.imskms.core.replay.ReplayGuard;
import io.imskms.core.replay.ReplayException;
import io.imskms.core.replay.RequestNonces;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.Btid;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import io.imskms.protocol.Wire;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * The KMS's own bootstrapping ("another authentication method" of steps 1a/1b/1m): one round trip
 * of proof of possession of the enrolled credential Kp, a B-TID that carries everything needed to
 * re-derive the session key, and a KMS answer that proves knowledge of Kp. Nothing is stored per
 * principal. docs/protocol.md, "Bootstrapping".
 */
public final class KmsBootstrapper implements Bootstrapper {
  static final KeySpec KP = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  static final KeySpec KAUTH = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN,
      KeyUsage.VERIFY);
  static final KeySpec KS = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);

  private final LongTermKeys keys;
  private final ReplayGuard replay;
  private final MailboxDirectory directory;
  private final Clock clock;
  private final Duration lifetime;
  private final ServerRandom random;
  private final Principals principals;

  /** A bootstrapper for which nobody is revoked and every credential is of generation 0. */
  public KmsBootstrapper(LongTermKeys keys, ReplayGuard replay, MailboxDirectory directory,
      Clock clock, Duration lifetime, ServerRandom random) {
    this(keys, replay, directory, clock, lifetime, random, Principals.NONE);
  }

  /**
   * A bootstrapper that refuses revoked principals and superseded credential generations
   * ({@code principals}, an in-memory lookup) with PRINCIPAL_REVOKED.
   */
  public KmsBootstrapper(LongTermKeys keys, ReplayGuard replay, MailboxDirectory directory,
      Clock clock, Duration lifetime, ServerRandom random, Principals principals) {
    this.principals = Objects.requireNonNull(principals);
    this.keys = Objects.requireNonNull(keys);
    this.replay = Objects.requireNonNull(replay);
    this.directory = Objects.requireNonNull(directory);
    this.clock = Objects.requireNonNull(clock);
    this.lifetime = Objects.requireNonNull(lifetime);
    this.random = Objects.requireNonNull(random);
  }

  /**
   * Kp = KDF(cred-root_v, cred(role, ID, generation)) (generation 0: cred(role, ID)). Shared with
   * enrolment, which needs it wrappable.
   */
  public static KeyRef deriveKp(HsmSession s, LongTermKeys keys, Role role, String id,
      int credVersion, int generation, boolean wrappable) throws KmsException, HsmException {
    KeyRef root = keys.key(KeyPurpose.CRED_ROOT, credVersion);
    return s.deriveKey(root, Contexts.cred(role, id, generation), wrappable ? KP.wrappable() : KP);
  }

  @Override
  public byte[] bootstrap(HsmSession s, byte[] requestBytes) throws KmsException {
    RequestNonces nonces = new RequestNonces(replay);
    try {
      return bootstrap(s, requestBytes, nonces);
    } catch (KmsException e) {
      if (e.serverSide()) {
        nonces.release(); // not answered: the same request may be sent again
      }
      throw e;
    } catch (RuntimeException | Error e) {
      nonces.release();
      throw e;
    }
  }

  private byte[] bootstrap(HsmSession s, byte[] requestBytes, RequestNonces nonces)
      throws KmsException {
    try {
      BootstrapRequest req = BootstrapRequest.decode(requestBytes);
      if (req.role() == Role.MAILBOX && !directory.isMailbox(req.id())) {
        throw new KmsException(ErrorCode.UNKNOWN_PRINCIPAL, "not a mailbox of the directory");
      }
      KeyRef kp = deriveKp(s, keys, req.role(), req.id(), req.credVersion(), req.generation(),
          false);
      KeyRef kauth = s.deriveKey(kp, Contexts.auth(), KAUTH);
      // Proof of possession first, so unauthenticated traffic cannot fill the replay cache, nor
      // learn whether someone is revoked.
      s.verify(kauth, req.body(), req.proof());
      principals.check(req.id(), req.generation());
      nonces.checkAndRecord(principal(req.role(), req.id()), req.nonce(),
          Instant.ofEpochMilli(req.timestampMs()));
      int macVersion = keys.activeVersion(KeyPurpose.BTID_MAC);
      byte[] rand = random.next(s, Wire.RAND_LEN);
      long notAfter = clock.millis() + lifetime.toMillis();
      Btid unsigned = new Btid(req.role(), req.id(), rand, notAfter, req.credVersion(),
          macVersion, new byte[Wire.MAC_LEN], req.generation());
      byte[] tag = s.sign(keys.key(KeyPurpose.BTID_MAC, macVersion), unsigned.body());
      byte[] btid = new Btid(req.role(), req.id(), rand, notAfter, req.credVersion(), macVersion,
          tag, req.generation()).encode();
      byte[] autn = s.sign(kauth, Contexts.autn(req.nonce(), btid));
      return new BootstrapResponse(btid, autn).encode();
    } catch (ProtocolException e) {
      throw KmsException.of(e);
    } catch (HsmException e) {
      throw KmsException.of(e);
    } catch (ReplayException e) {
      throw KmsException.of(e);
    }
  }

  /**
   * Recover Ka/Kb/Km: check the tag (any change to the B-TID → INTEGRITY), then the expiry, then
   * the principal's standing (revoked, or a superseded generation → PRINCIPAL_REVOKED), then
   * derive Kp and Ks = KDF(Kp, ks(body)).
   *
   * <p>Ks is derived as a shared key named by these exact B-TID bytes (HsmSession#deriveShared;
   * docs/protocol.md section 12): a later recovery from the same bytes on this node finds it
   * without the HSM's tag check and two derivations, but makes every other check as above, in
   * the same order and with the same codes (key versions known and not retired, expiry,
   * principal's standing), because those can change while the key is cached. Same bytes mean
   * the tag was verified when the key was cached; a B-TID that differs in any byte is a miss.
   */
  @Override
  public BootstrappedKey recover(HsmSession s, byte[] btidBytes, boolean wrappable)
      throws KmsException {
    try {
      Btid btid = Btid.decode(btidBytes);
      KeyRef macKey = keys.key(KeyPurpose.BTID_MAC, btid.btidMacVersion());
      byte[] name = sharedName(btidBytes, wrappable);
      KeyRef cached = s.findShared(name);
      if (cached == null) {
        s.verify(macKey, btid.body(), btid.tag());
      }
      if (clock.millis() > btid.notAfterMs()) {
        throw new KmsException(ErrorCode.EXPIRED_BTID, "B-TID expired");
      }
      principals.check(btid.id(), btid.generation());
      if (cached != null) {
        keys.key(KeyPurpose.CRED_ROOT, btid.credVersion()); // known and not retired, as deriveKp
        return new BootstrappedKey(btid.role(), btid.id(), cached, name, btid.notAfterMs());
      }
      KeyRef kp = deriveKp(s, keys, btid.role(), btid.id(), btid.credVersion(),
          btid.generation(), false);
      KeyRef ks = s.deriveShared(kp, Contexts.sessionKey(btid.body()),
          wrappable ? KS.wrappable() : KS, name, btid.notAfterMs());
      s.destroy(kp);
      return new BootstrappedKey(btid.role(), btid.id(), ks, name, btid.notAfterMs());
    } catch (ProtocolException e) {
      throw KmsException.of(e);
    } catch (HsmException e) {
      throw KmsException.of(e);
    }
  }

  /**
   * The shared-key name of the Ks of these B-TID bytes: a label, the key's wrappability (Ka is
   * derived wrappable, for the ticket; Kb and Km are not) and the bytes as received.
   */
  static byte[] sharedName(byte[] btidBytes, boolean wrappable) {
    return sharedKeyName(SHARED_LABEL, wrappable ? 1 : 0, btidBytes);
  }

  /**
   * A shared-key name (HsmSession#deriveShared): {@code label} ‖ one byte {@code tag} ‖ {@code
   * tail}. The labels keep the kinds of shared keys apart; each kind's tag and tail say exactly
   * which key of that kind it is.
   */
  public static byte[] sharedKeyName(byte[] label, int tag, byte[] tail) {
    byte[] name = new byte[label.length + 1 + tail.length];
    System.arraycopy(label, 0, name, 0, label.length);
    name[label.length] = (byte) tag;
    System.arraycopy(tail, 0, name, label.length + 1, tail.length);
    return name;
  }

  private static final byte[] SHARED_LABEL =
      "imskms/v1/ks-of-btid".getBytes(StandardCharsets.US_ASCII);

  /** The replay cache's principal name: role code, a colon, the normalised identity. */
  public static String principal(Role role, String id) {
    return role.code() + ":" + id;
  }
}
