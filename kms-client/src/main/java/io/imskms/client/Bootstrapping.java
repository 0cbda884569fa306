package io.imskms.client;

import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.Btid;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Wire;
import java.time.Clock;

/**
 * The client side of bootstrapping (steps 1a/1b/1m). Security guarantees: the session is accepted
 * only if the KMS proved knowledge of Kp (autn) for this request's nonce, and the B-TID names this
 * principal, role and credential version.
 */
public final class Bootstrapping {
  private final Clock clock;
  private final RandomSource random;

  public Bootstrapping(Clock clock, RandomSource random) {
    this.clock = clock;
    this.random = random;
  }

  /** An outstanding bootstrap request. */
  public static final class Pending implements PendingRequest {
    private final Credential cred;
    private final BootstrapRequest request;

    Pending(Credential cred, BootstrapRequest request) {
      this.cred = cred;
      this.request = request;
    }

    @Override
    public byte[] requestBytes() {
      return request.encode();
    }
  }

  public Pending start(Credential cred) {
    byte[] nonce = random.next(Wire.NONCE_LEN);
    BootstrapRequest unsigned = new BootstrapRequest(cred.role(), cred.id(), cred.credVersion(),
        nonce, clock.millis(), new byte[Wire.MAC_LEN], cred.generation());
    byte[] proof = SoftwareCrypto.hmac(cred.kauth(), unsigned.body());
    return new Pending(cred, new BootstrapRequest(cred.role(), cred.id(), cred.credVersion(),
        nonce, unsigned.timestampMs(), proof, cred.generation()));
  }

  public ClientSession finish(Pending p, byte[] responseBytes) throws ProtocolException {
    Responses.throwIfError(responseBytes);
    BootstrapResponse resp = BootstrapResponse.decode(responseBytes);
    SoftwareCrypto.verifyHmac(p.cred.kauth(), Contexts.autn(p.request.nonce(), resp.btid()),
        resp.autn());
    Btid btid = Btid.decode(resp.btid());
    if (btid.role() != p.cred.role() || !btid.id().equals(p.cred.id())
        || btid.credVersion() != p.cred.credVersion()
        || btid.generation() != p.cred.generation()) {
      throw new ProtocolException(ErrorCode.IDENTITY_MISMATCH, "B-TID names someone else");
    }
    return ClientSession.resume(p.cred, btid);
  }
}
