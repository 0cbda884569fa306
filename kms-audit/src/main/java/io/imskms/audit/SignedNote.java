package io.imskms.audit;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;

/**
 * A C2SP signed note: the text (UTF-8, ending in a newline), an empty line, then one signature
 * line per signature: {@code — <name> <base64(keyhash(4) ‖ signature(64))>} followed by a newline.
 * The dash is U+2014 (bytes E2 80 94) followed by one space; the signature covers the text
 * including its final newline and nothing else.
 */
public final class SignedNote {
  static final String DASH = "\u2014 ";
  private static final int MAX_NOTE_BYTES = 1 << 20;

  /** One signature line. */
  public record Sig(String name, byte[] keyHash, byte[] signature) {}

  private final String text;
  private final List<Sig> sigs;

  private SignedNote(String text, List<Sig> sigs) {
    this.text = text;
    this.sigs = List.copyOf(sigs);
  }

  public String text() {
    return text;
  }

  public List<Sig> signatures() {
    return sigs;
  }

  /** Signs {@code text} (which must end in a newline and contain no empty line). */
  public static String sign(String text, CheckpointSigner signer)
      throws CheckpointSigner.SigningException {
    checkText(text);
    VerifierKey.checkName(signer.name());
    byte[] sig = signer.sign(text.getBytes(StandardCharsets.UTF_8));
    if (sig == null || sig.length != 64) {
      throw new CheckpointSigner.SigningException("the signer returned no 64-byte signature", null);
    }
    byte[] hash = VerifierKey.keyHash(signer.name(), signer.publicKey());
    byte[] blob = new byte[68];
    System.arraycopy(hash, 0, blob, 0, 4);
    System.arraycopy(sig, 0, blob, 4, 64);
    return text + "\n" + DASH + signer.name() + " " + Base64.getEncoder().encodeToString(blob)
        + "\n";
  }

  static void checkText(String text) {
    if (text.isEmpty() || !text.endsWith("\n") || text.contains("\n\n")) {
      throw new IllegalArgumentException("note text ends in a newline and has no empty line");
    }
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < 0x20 && c != '\n') {
        throw new IllegalArgumentException("note text has no control characters");
      }
    }
  }

  /** Parses a note without verifying it. */
  public static SignedNote parse(String note) throws NoteException {
    if (note.getBytes(StandardCharsets.UTF_8).length > MAX_NOTE_BYTES) {
      throw new NoteException("note too large");
    }
    int split = note.lastIndexOf("\n\n");
    if (split < 0) {
      throw new NoteException("no signature block");
    }
    String text = note.substring(0, split + 1);
    String block = note.substring(split + 2);
    if (!block.endsWith("\n") || block.length() < 2) {
      throw new NoteException("malformed signature block");
    }
    try {
      checkText(text);
    } catch (IllegalArgumentException e) {
      throw new NoteException(e.getMessage());
    }
    List<Sig> sigs = new ArrayList<>();
    for (String line : block.substring(0, block.length() - 1).split("\n", -1)) {
      if (!line.startsWith(DASH)) {
        throw new NoteException("a signature line starts with an em dash and a space");
      }
      String rest = line.substring(DASH.length());
      int sp = rest.indexOf(' ');
      if (sp <= 0 || rest.indexOf(' ', sp + 1) >= 0) {
        throw new NoteException("a signature line is '— name base64'");
      }
      byte[] blob;
      try {
        blob = Base64.getDecoder().decode(rest.substring(sp + 1));
      } catch (IllegalArgumentException e) {
        throw new NoteException("signature is not base64");
      }
      if (blob.length < 5) {
        throw new NoteException("signature too short");
      }
      sigs.add(new Sig(rest.substring(0, sp), Arrays.copyOf(blob, 4),
          Arrays.copyOfRange(blob, 4, blob.length)));
      if (sigs.size() > 100) {
        throw new NoteException("too many signatures");
      }
    }
    return new SignedNote(text, sigs);
  }

  /**
   * Verifies the note with {@code key}: the first signature line with the key's name and key hash
   * decides; a note without such a line is refused (UNKNOWN_KEY), a bad signature is FORGED.
   */
  public static String open(String note, VerifierKey key) throws NoteException {
    SignedNote n = parse(note);
    for (Sig s : n.sigs) {
      if (s.name().equals(key.name()) && Arrays.equals(s.keyHash(), key.keyHash())) {
        if (!key.verify(n.text.getBytes(StandardCharsets.UTF_8), s.signature())) {
          throw new NoteException(NoteException.Kind.FORGED,
              "signature by " + key.name() + " does not verify");
        }
        return n.text;
      }
    }
    throw new NoteException(NoteException.Kind.UNKNOWN_KEY,
        "no signature by the verifier key " + key.name());
  }

  /** A note that does not parse or verify. */
  public static final class NoteException extends Exception {
    public enum Kind { MALFORMED, UNKNOWN_KEY, FORGED }

    private final Kind kind;

    public NoteException(String message) {
      this(Kind.MALFORMED, message);
    }

    public NoteException(Kind kind, String message) {
      super(message);
      this.kind = kind;
    }

    public Kind kind() {
      return kind;
    }
  }
}
