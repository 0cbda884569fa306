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

/** An {@link Hsm} that counts the operations every session performs, by kind. */
final class CountingHsm implements Hsm {
  private final Hsm delegate;
  final Map<String, Integer> ops = new TreeMap<>();
  int sessions;

  CountingHsm(Hsm delegate) {
    this.delegate = delegate;
  }

  void reset() {
    ops.clear();
    sessions = 0;
  }

  int total() {
    return ops.values().stream().mapToInt(Integer::intValue).sum();
  }

  private void count(String op) {
    ops.merge(op, 1, Integer::sum);
  }

  @Override
  public HsmSession openSession() throws HsmException {
    HsmSession s = delegate.openSession();
    sessions++;
    return new HsmSession() {
      @Override
      public KeyRef deriveKey(KeyRef base, byte[] context, KeySpec spec) throws HsmException {
        count("derive");
        return s.deriveKey(base, context, spec);
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
