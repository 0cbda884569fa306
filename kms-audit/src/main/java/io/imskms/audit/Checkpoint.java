package io.imskms.audit;

import java.util.Base64;

/**
 * A C2SP tlog-checkpoint body: the origin line, the tree size in decimal, the base64 root hash,
 * each followed by a newline, no extension lines. Signed as a {@link SignedNote}.
 */
public record Checkpoint(String origin, long size, byte[] root) {

  public Checkpoint {
    if (origin == null || origin.isEmpty() || origin.contains("\n")) {
      throw new IllegalArgumentException("origin is one non-empty line");
    }
    if (size < 0) {
      throw new IllegalArgumentException("tree size is not negative");
    }
    if (root == null || root.length != Merkle.HASH_BYTES) {
      throw new IllegalArgumentException("root hash is 32 bytes");
    }
    root = root.clone();
  }

  @Override
  public byte[] root() {
    return root.clone();
  }

  /** The note text. */
  public String text() {
    return origin + "\n" + size + "\n" + Base64.getEncoder().encodeToString(root) + "\n";
  }

  /** Parses a checkpoint body (extension lines are allowed and ignored). */
  public static Checkpoint parse(String text) throws SignedNote.NoteException {
    String[] lines = text.split("\n", -1);
    if (lines.length < 4 || !lines[lines.length - 1].isEmpty()) {
      throw new SignedNote.NoteException("a checkpoint has origin, size and root lines");
    }
    String sizeText = lines[1];
    if (!sizeText.matches("0|[1-9][0-9]{0,18}")) {
      throw new SignedNote.NoteException("tree size is a decimal without leading zeros");
    }
    byte[] root;
    try {
      root = Base64.getDecoder().decode(lines[2]);
    } catch (IllegalArgumentException e) {
      throw new SignedNote.NoteException("root hash is not base64");
    }
    if (root.length != Merkle.HASH_BYTES || lines[0].isEmpty()) {
      throw new SignedNote.NoteException("malformed checkpoint");
    }
    return new Checkpoint(lines[0], Long.parseLong(sizeText), root);
  }

  /** Verifies a signed checkpoint note and parses its body. */
  public static Checkpoint open(String note, VerifierKey key) throws SignedNote.NoteException {
    return parse(SignedNote.open(note, key));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Checkpoint c && c.origin.equals(origin) && c.size == size
        && java.util.Arrays.equals(c.root, root);
  }

  @Override
  public int hashCode() {
    return origin.hashCode() * 31 + Long.hashCode(size);
  }

  @Override
  public String toString() {
    return origin + " @" + size + " " + Base64.getEncoder().encodeToString(root);
  }
}
