package io.imskms.audit;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * RFC 9162 §2.1 Merkle tree hashing over SHA-256: the leaf hash is SHA-256(0x00 ‖ leaf), an
 * interior node is SHA-256(0x01 ‖ left ‖ right), and MTH of n leaves splits at the largest power
 * of two smaller than n. Inclusion and consistency proofs are generated as in §2.1.3.1 / §2.1.4.1
 * (PATH and PROOF) and verified with the algorithms of §2.1.3.2 / §2.1.4.2.
 */
public final class Merkle {
  public static final int HASH_BYTES = 32;

  private Merkle() {}

  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 missing from the JDK", e);
    }
  });

  public static byte[] sha256(byte[] data) {
    return SHA256.get().digest(data);
  }

  /** SHA-256(0x00 ‖ leaf). */
  public static byte[] leafHash(byte[] leaf) {
    return leafHash(leaf, 0, leaf.length);
  }

  public static byte[] leafHash(byte[] buf, int off, int len) {
    MessageDigest md = SHA256.get();
    md.update((byte) 0x00);
    md.update(buf, off, len);
    return md.digest();
  }

  /** SHA-256(0x01 ‖ left ‖ right). */
  public static byte[] nodeHash(byte[] left, byte[] right) {
    MessageDigest md = SHA256.get();
    md.update((byte) 0x01);
    md.update(left);
    md.update(right);
    return md.digest();
  }

  /** MTH of the empty tree: SHA-256 of the empty string. */
  public static byte[] emptyRoot() {
    return sha256(new byte[0]);
  }

  /** MTH(D[lo:hi]) over leaf hashes. */
  public static byte[] root(List<byte[]> leafHashes) {
    return leafHashes.isEmpty() ? emptyRoot() : mth(leafHashes, 0, leafHashes.size());
  }

  private static byte[] mth(List<byte[]> h, int lo, int hi) {
    int n = hi - lo;
    if (n == 1) {
      return h.get(lo);
    }
    int k = largestPowerOfTwoBelow(n);
    return nodeHash(mth(h, lo, lo + k), mth(h, lo + k, hi));
  }

  /** The largest power of two strictly smaller than n (n ≥ 2). */
  static int largestPowerOfTwoBelow(long n) {
    long k = Long.highestOneBit(n - 1);
    return Math.toIntExact(k);
  }

  /** PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf {@code index}. */
  public static List<byte[]> inclusionProof(List<byte[]> leafHashes, int index) {
    int n = leafHashes.size();
    if (index < 0 || index >= n) {
      throw new IllegalArgumentException("leaf " + index + " is not in a tree of size " + n);
    }
    List<byte[]> out = new ArrayList<>();
    path(leafHashes, index, 0, n, out);
    return out;
  }

  private static void path(List<byte[]> h, int m, int lo, int hi, List<byte[]> out) {
    int n = hi - lo;
    if (n == 1) {
      return;
    }
    int k = largestPowerOfTwoBelow(n);
    if (m < k) {
      path(h, m, lo, lo + k, out);
      out.add(mth(h, lo + k, hi));
    } else {
      path(h, m - k, lo + k, hi, out);
      out.add(mth(h, lo, lo + k));
    }
  }

  /** PROOF(m, D[n]) of RFC 9162 §2.1.4.1, for 0 < m ≤ n = leafHashes.size(). */
  public static List<byte[]> consistencyProof(List<byte[]> leafHashes, int m) {
    int n = leafHashes.size();
    if (m < 1 || m > n) {
      throw new IllegalArgumentException("no consistency proof from size " + m + " to " + n);
    }
    List<byte[]> out = new ArrayList<>();
    if (m < n) {
      subproof(leafHashes, m, 0, n, true, out);
    }
    return out;
  }

  private static void subproof(List<byte[]> h, int m, int lo, int hi, boolean b,
      List<byte[]> out) {
    int n = hi - lo;
    if (m == n) {
      if (!b) {
        out.add(mth(h, lo, hi));
      }
      return;
    }
    int k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      subproof(h, m, lo, lo + k, b, out);
      out.add(mth(h, lo + k, hi));
    } else {
      subproof(h, m - k, lo + k, hi, false, out);
      out.add(mth(h, lo, lo + k));
    }
  }

  /** RFC 9162 §2.1.3.2: does {@code proof} show leaf {@code index} in the tree (size, root)? */
  public static boolean verifyInclusion(byte[] leafHash, long index, long treeSize,
      List<byte[]> proof, byte[] root) {
    if (index < 0 || index >= treeSize) {
      return false;
    }
    long fn = index;
    long sn = treeSize - 1;
    byte[] r = leafHash;
    for (byte[] p : proof) {
      if (sn == 0) {
        return false;
      }
      if ((fn & 1) == 1 || fn == sn) {
        r = nodeHash(p, r);
        if ((fn & 1) == 0) {
          while ((fn & 1) == 0 && fn != 0) {
            fn >>= 1;
            sn >>= 1;
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    return sn == 0 && MessageDigest.isEqual(r, root);
  }

  /** RFC 9162 §2.1.4.2: is the tree (size2, root2) an extension of (size1, root1)? */
  public static boolean verifyConsistency(long size1, byte[] root1, long size2, byte[] root2,
      List<byte[]> proof) {
    if (size1 < 1 || size2 < size1) {
      return false;
    }
    if (size1 == size2) {
      return proof.isEmpty() && MessageDigest.isEqual(root1, root2);
    }
    if (proof.isEmpty()) {
      return false;
    }
    List<byte[]> path = new ArrayList<>(proof);
    if (Long.bitCount(size1) == 1) {
      path.add(0, root1); // size1 is an exact power of two: prepend first_hash
    }
    long fn = size1 - 1;
    long sn = size2 - 1;
    while ((fn & 1) == 1) {
      fn >>= 1;
      sn >>= 1;
    }
    byte[] fr = path.get(0);
    byte[] sr = path.get(0);
    for (int i = 1; i < path.size(); i++) {
      byte[] c = path.get(i);
      if (sn == 0) {
        return false;
      }
      if ((fn & 1) == 1 || fn == sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        if ((fn & 1) == 0) {
          while ((fn & 1) == 0 && fn != 0) {
            fn >>= 1;
            sn >>= 1;
          }
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn >>= 1;
      sn >>= 1;
    }
    return sn == 0 && MessageDigest.isEqual(fr, root1) && MessageDigest.isEqual(sr, root2);
  }

  /**
   * The right-hand frontier of a tree: the roots of its perfect subtrees, largest first. Enough
   * to append leaves and compute the root in O(log n) without keeping the leaves.
   */
  public static final class Frontier {
    private final List<byte[]> hashes = new ArrayList<>();
    private long size;

    public Frontier() {}

    private Frontier(Frontier other) {
      hashes.addAll(other.hashes);
      size = other.size;
    }

    /** A frontier from its size and subtree roots (as written next to a segment). */
    public static Frontier of(long size, List<byte[]> subtreeRoots) {
      if (Long.bitCount(size) != subtreeRoots.size()) {
        throw new IllegalArgumentException("a tree of size " + size + " has " + Long.bitCount(size)
            + " perfect subtrees, not " + subtreeRoots.size());
      }
      Frontier f = new Frontier();
      for (byte[] h : subtreeRoots) {
        if (h.length != HASH_BYTES) {
          throw new IllegalArgumentException("subtree roots are 32 bytes");
        }
        f.hashes.add(h.clone());
      }
      f.size = size;
      return f;
    }

    public Frontier copy() {
      return new Frontier(this);
    }

    public long size() {
      return size;
    }

    public List<byte[]> subtreeRoots() {
      List<byte[]> out = new ArrayList<>(hashes.size());
      for (byte[] h : hashes) {
        out.add(h.clone());
      }
      return out;
    }

    public void append(byte[] leafHash) {
      byte[] h = leafHash;
      long s = size;
      // Merge while the new leaf completes a perfect subtree: one merge per trailing one bit.
      while ((s & 1) == 1) {
        h = nodeHash(hashes.remove(hashes.size() - 1), h);
        s >>= 1;
      }
      hashes.add(h);
      size++;
    }

    public byte[] root() {
      if (size == 0) {
        return emptyRoot();
      }
      byte[] r = hashes.get(hashes.size() - 1);
      for (int i = hashes.size() - 2; i >= 0; i--) {
        r = nodeHash(hashes.get(i), r);
      }
      return r;
    }

    @Override
    public boolean equals(Object o) {
      if (!(o instanceof Frontier f) || f.size != size || f.hashes.size() != hashes.size()) {
        return false;
      }
      for (int i = 0; i < hashes.size(); i++) {
        if (!Arrays.equals(hashes.get(i), f.hashes.get(i))) {
          return false;
        }
      }
      return true;
    }

    @Override
    public int hashCode() {
      return Long.hashCode(size);
    }
  }
}
