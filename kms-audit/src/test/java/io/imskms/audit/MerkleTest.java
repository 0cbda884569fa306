package io.imskms.audit;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class MerkleTest {

  private static List<byte[]> leaves(int n) {
    List<byte[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(Merkle.leafHash(("leaf " + i).getBytes()));
    }
    return out;
  }

  @Test
  void rootOfKnownTree_matchesHandComputedRfc9162Hashing() {
    // Three leaves: MTH = H(1 || H(1 || L0 || L1) || L2), Li = H(0 || di).
    byte[] l0 = Merkle.sha256(new byte[] {0, 'a'});
    byte[] l1 = Merkle.sha256(new byte[] {0, 'b'});
    byte[] l2 = Merkle.sha256(new byte[] {0, 'c'});
    byte[] left = Merkle.sha256(concat(new byte[] {1}, l0, l1));
    byte[] expected = Merkle.sha256(concat(new byte[] {1}, left, l2));
    assertArrayEquals(expected, Merkle.root(List.of(Merkle.leafHash(new byte[] {'a'}),
        Merkle.leafHash(new byte[] {'b'}), Merkle.leafHash(new byte[] {'c'}))));
    assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        HexFormat.of().formatHex(Merkle.root(List.of())));
  }

  @Test
  void frontier_givesTheSameRootAsTheFullTree_atEverySize() {
    List<byte[]> all = leaves(70);
    Merkle.Frontier f = new Merkle.Frontier();
    for (int n = 1; n <= all.size(); n++) {
      f.append(all.get(n - 1));
      assertArrayEquals(Merkle.root(all.subList(0, n)), f.root(), "size " + n);
    }
  }

  @Test
  void everyInclusionProof_verifies_andAWrongOneDoesNot() {
    List<byte[]> all = leaves(33);
    for (int n = 1; n <= all.size(); n++) {
      List<byte[]> t = all.subList(0, n);
      byte[] root = Merkle.root(t);
      for (int i = 0; i < n; i++) {
        List<byte[]> p = Merkle.inclusionProof(t, i);
        assertTrue(Merkle.verifyInclusion(t.get(i), i, n, p, root), n + "/" + i);
        if (n > 1) {
          int j = (i + 1) % n;
          assertFalse(Merkle.verifyInclusion(t.get(j), i, n, p, root), "other leaf " + n + "/" + i);
          assertFalse(Merkle.verifyInclusion(t.get(i), i, n, p, Merkle.root(all.subList(0, n - 1))),
              "wrong root");
        }
      }
    }
  }

  @Test
  void everyConsistencyProof_verifies_andAForkedOneDoesNot() {
    List<byte[]> all = leaves(33);
    for (int n = 1; n <= all.size(); n++) {
      byte[] rn = Merkle.root(all.subList(0, n));
      for (int m = 1; m <= n; m++) {
        byte[] rm = Merkle.root(all.subList(0, m));
        List<byte[]> p = Merkle.consistencyProof(all.subList(0, n), m);
        assertTrue(Merkle.verifyConsistency(m, rm, n, rn, p), m + "->" + n);
        if (m < n) {
          List<byte[]> forked = new ArrayList<>(all.subList(0, n));
          forked.set(m - 1, Merkle.leafHash("forged".getBytes()));
          assertFalse(Merkle.verifyConsistency(m, rm, n, Merkle.root(forked),
              Merkle.consistencyProof(forked, m)), "fork " + m + "->" + n);
        }
      }
    }
  }

  private static byte[] concat(byte[]... parts) {
    int len = 0;
    for (byte[] p : parts) {
      len += p.length;
    }
    byte[] out = new byte[len];
    int o = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, out, o, p.length);
      o += p.length;
    }
    return out;
  }
}
