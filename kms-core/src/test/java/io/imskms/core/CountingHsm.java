package io.imskms.core;

import io.imskms.hsm.EcKeyPair;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmCapabilities;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.HsmStatus;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.LongTermKeyInfo;
import io.imskms.hsm.WrapMode;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An {@link Hsm} that counts the operations every session performs, by kind, and can make one
 * chosen operation fail once (fault injection).
 */
final class CountingHsm implements Hsm {
  private final Hsm delegate;
  final Map<String, Integer> ops = new TreeMap<>();
  /** The spec of every key made through derive, unwrap or generate, in order. */
  final List<KeySpec> specs = new java.util.ArrayList<>();
  int sessions;

  CountingHsm(Hsm delegate) {
    this.delegate = delegate;
  }

  void reset() {
    ops.clear();
    specs.clear();
    sessions = 0;
    sharedHits = 0;
  }

  int total() {
    return ops.values().stream().mapToInt(Integer::intValue).sum();
  }

  /** How many findShared calls found a key (no PKCS#11 call; not in the operation counts). */
  int sharedHits;

  private String failOp;
  private int failIn;
  private HsmException failWith;

  /** The next call of {@code op} (e.g. "sign", "wrap") throws {@code e} instead; once. */
  void failNext(String op, HsmException e) {
    failAt(op, 1, e);
  }

  /** The {@code nth} next call of {@code op} throws {@code e} instead; once. */
  void failAt(String op, int nth, HsmException e) {
    failOp = op;
    failIn = nth;
    failWith = e;
  }

  private void count(String op) throws HsmException {
    ops.merge(op, 1, Integer::sum);
    if (op.equals(failOp) && --failIn == 0) {
      HsmException e = failWith;
      failOp = null;
      failWith = null;
      throw e;
    }
  }

  @Override
  public HsmSession openSession() throws HsmException {
    HsmSession s = delegate.openSession();
    sessions++;
    return new HsmSession() {
      @Override
      public KeyRef deriveKey(KeyRef base, byte[] context, KeySpec spec) throws HsmException {
        count("derive");
        specs.add(spec);
        return s.deriveKey(base, context, spec);
      }

      @Override
      public KeyRef deriveShared(KeyRef base, byte[] context, KeySpec spec, byte[] name,
          long notAfterMillis) throws HsmException {
        count("derive");
        specs.add(spec);
        return s.deriveShared(base, context, spec, name, notAfterMillis);
      }

      @Override
      public KeyRef findShared(byte[] name) throws HsmException {
        KeyRef k = s.findShared(name); // no PKCS#11 call: not an operation
        if (k != null) {
          sharedHits++;
        }
        return k;
      }

      @Override
      public byte[] wrapKey(KeyRef kek, KeyRef key, WrapMode mode) throws HsmException {
        count("wrap");
        return s.wrapKey(kek, key, mode);
      }

      @Override
      public KeyRef unwrapKey(KeyRef kek, byte[] wrapped, WrapMode mode, KeySpec spec)
          throws HsmException {
        count("unwrap");
        specs.add(spec);
        return s.unwrapKey(kek, wrapped, mode, spec);
      }

      @Override
      public byte[] encryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] p) throws HsmException {
        count("encrypt");
        return s.encryptGcm(key, iv, aad, p);
      }

      @Override
      public byte[] decryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] c) throws HsmException {
        count("decrypt");
        return s.decryptGcm(key, iv, aad, c);
      }

      @Override
      public byte[] sign(KeyRef key, byte[] data) throws HsmException {
        count("sign");
        return s.sign(key, data);
      }

      @Override
      public void verify(KeyRef key, byte[] data, byte[] tag) throws HsmException {
        count("verify");
        s.verify(key, data, tag);
      }

      @Override
      public byte[] random(int length) throws HsmException {
        count("random");
        return s.random(length);
      }

      @Override
      public KeyRef generateKey(KeySpec spec) throws HsmException {
        count("generateKey");
        specs.add(spec);
        return s.generateKey(spec);
      }

      @Override
      public EcKeyPair generateEcKeyPair() throws HsmException {
        count("generateEcKeyPair");
        return s.generateEcKeyPair();
      }

      @Override
      public KeyRef deriveEcdh(KeyRef privateKey, byte[] peer, KeySpec spec)
          throws HsmException {
        count("deriveEcdh");
        return s.deriveEcdh(privateKey, peer, spec);
      }

      @Override
      public void destroy(KeyRef sessionKey) throws HsmException {
        count("destroy");
        s.destroy(sessionKey);
      }

      @Override
      public void close() {
        s.close();
      }
    };
  }

  @Override
  public KeyRef findKey(String label, int version) throws HsmException {
    return delegate.findKey(label, version);
  }

  @Override
  public LongTermKeyInfo generateLongTermKey(String label, int version, KeySpec spec)
      throws HsmException {
    return delegate.generateLongTermKey(label, version, spec);
  }

  @Override
  public List<LongTermKeyInfo> listLongTermKeys() throws HsmException {
    return delegate.listLongTermKeys();
  }

  @Override
  public List<byte[]> readDataObjects(String label) throws HsmException {
    return delegate.readDataObjects(label);
  }

  @Override
  public void replaceDataObject(String label, byte[] value) throws HsmException {
    delegate.replaceDataObject(label, value);
  }

  @Override
  public void replaceDataObjects(String label, List<byte[]> values) throws HsmException {
    delegate.replaceDataObjects(label, values);
  }

  @Override
  public byte[] generateEd25519Key(String label) throws HsmException {
    return delegate.generateEd25519Key(label);
  }

  @Override
  public byte[] ed25519PublicKey(String label) throws HsmException {
    return delegate.ed25519PublicKey(label);
  }

  @Override
  public byte[] signEd25519(String label, byte[] message) throws HsmException {
    return delegate.signEd25519(label, message);
  }

  @Override
  public HsmCapabilities capabilities() {
    return delegate.capabilities();
  }

  @Override
  public HsmStatus status() {
    return delegate.status();
  }

  @Override
  public void recycle() throws HsmException {
    delegate.recycle();
  }

  @Override
  public long countSessionObjects() throws HsmException {
    return delegate.countSessionObjects();
  }

  @Override
  public void close() {
    delegate.close();
  }
}
