package io.imskms.client;

import io.imskms.protocol.Btid;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.Role;

/**
 * The result of bootstrapping: the B-TID and the session key Ks (Ka, Kb or Km) it stands for.
 */
public final class ClientSession {
  private final Btid btid;
  private final byte[] btidBytes;
  private final SecretBytes ks;

  ClientSession(Btid btid, SecretBytes ks) {
    this.btid = btid;
    this.btidBytes = btid.encode();
    this.ks = ks;
  }

  public Role role() {
    return btid.role();
  }

  public String id() {
    return btid.id();
  }

  public long notAfterMs() {
    return btid.notAfterMs();
  }

  public Btid btid() {
    return btid;
  }

  public byte[] btidBytes() {
    return btidBytes.clone();
  }

  SecretBytes ks() {
    return ks;
  }

  /** The AES-GCM key of a request of this message type: KDF(Ks, request(type)). */
  SecretBytes requestKey(int messageType) {
    return SoftwareCrypto.kdf256(ks, Contexts.request(messageType));
  }

  SecretBytes derive(byte[] context) {
    return SoftwareCrypto.kdf256(ks, context);
  }

  /** A bootstrapped session from a known B-TID and Kp (e.g. after a restart of the device). */
  public static ClientSession resume(Credential cred, Btid btid) {
    return new ClientSession(btid, SoftwareCrypto.kdf256(cred.kp(),
        Contexts.sessionKey(btid.body())));
  }

  @Override
  public String toString() {
    return "ClientSession[" + btid.role() + " " + btid.id() + "]";
  }
}
