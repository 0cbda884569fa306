package io.imskms.audit;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.junit.jupiter.api.Test;

/**
 * C2SP signed-note and tlog-checkpoint bytes, checked against hand-computed values and an
 * independent Ed25519 (Bouncy Castle), and a note made by another implementation.
 */
class SignedNoteInteropTest {
  /** RFC 8032 §7.1 test 1 secret key and its public key. */
  static final byte[] SEED = HexFormat.of().parseHex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  static final byte[] PUB = HexFormat.of().parseHex(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  static final String ORIGIN = "imskms.example/audit/node-1";

  @Test
  void verifierKey_isNamePlusKeyHashPlusBase64OfTypeAndKey_computedByHand() {
    TestSigner s = new TestSigner(ORIGIN, SEED);
    assertArrayEquals(PUB, s.publicKey());
    // SHA-256("imskms.example/audit/node-1" || 0x0A || 0x01 || pub)[:4], computed with Python.
    assertEquals(ORIGIN + "+4bf168ce+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea",
        VerifierKey.of(ORIGIN, PUB).encode());
    assertEquals(VerifierKey.of(ORIGIN, PUB).encode(),
        VerifierKey.parse(ORIGIN + "+4bf168ce+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea").encode());
    assertThrows(IllegalArgumentException.class,
        () -> VerifierKey.parse(ORIGIN + "+4bf168cf+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"));
  }

  @Test
  void signedCheckpoint_hasExactC2spBytes_andBouncyCastleVerifiesIt() throws Exception {
    byte[] root = Merkle.sha256("root".getBytes(StandardCharsets.UTF_8));
    Checkpoint cp = new Checkpoint(ORIGIN, 3, root);
    String text = ORIGIN + "\n3\n" + Base64.getEncoder().encodeToString(root) + "\n";
    assertEquals(text, cp.text());
    String note = SignedNote.sign(cp.text(), new TestSigner(ORIGIN, SEED));

    // The expected bytes, built independently: Bouncy Castle's Ed25519 over the text.
    Ed25519Signer bc = new Ed25519Signer();
    bc.init(true, new Ed25519PrivateKeyParameters(SEED, 0));
    byte[] t = text.getBytes(StandardCharsets.UTF_8);
    bc.update(t, 0, t.length);
    byte[] sig = bc.generateSignature();
    byte[] blob = new byte[68];
    System.arraycopy(HexFormat.of().parseHex("4bf168ce"), 0, blob, 0, 4);
    System.arraycopy(sig, 0, blob, 4, 64);
    byte[] expected = concat(t, new byte[] {'\n', (byte) 0xE2, (byte) 0x80, (byte) 0x94, ' '},
        (ORIGIN + " " + Base64.getEncoder().encodeToString(blob) + "\n")
            .getBytes(StandardCharsets.UTF_8));
    assertArrayEquals(expected, note.getBytes(StandardCharsets.UTF_8));

    Ed25519Signer v = new Ed25519Signer();
    v.init(false, new Ed25519PublicKeyParameters(PUB, 0));
    v.update(t, 0, t.length);
    assertTrue(v.verifySignature(sig));
    assertEquals(cp, Checkpoint.open(note, VerifierKey.of(ORIGIN, PUB)));
  }

  @Test
  void noteSignedByAnotherImplementation_verifies() throws Exception {
    // The example of the C2SP signed-note ecosystem (Go sumdb/note compatible implementations).
    String note = "This is an example message.\n\n\u2014 example.com/foo "
        + "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    VerifierKey k = VerifierKey.parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
    assertEquals("This is an example message.\n", SignedNote.open(note, k));
    String forged = note.replace("example message", "exemple message");
    SignedNote.NoteException e = assertThrows(SignedNote.NoteException.class,
        () -> SignedNote.open(forged, k));
    assertEquals(SignedNote.NoteException.Kind.FORGED, e.kind());
  }

  @Test
  void noteWithAnotherKeyOrAHyphenInsteadOfTheEmDash_isRefused() throws Exception {
    String note = SignedNote.sign(new Checkpoint(ORIGIN, 1, new byte[32]).text(),
        new TestSigner(ORIGIN, SEED));
    VerifierKey other = VerifierKey.of(ORIGIN, TestSigner.random(ORIGIN).publicKey());
    assertEquals(SignedNote.NoteException.Kind.UNKNOWN_KEY,
        assertThrows(SignedNote.NoteException.class, () -> SignedNote.open(note, other)).kind());
    assertThrows(SignedNote.NoteException.class, () -> SignedNote.open(
        note.replace("\u2014 ", "- "), VerifierKey.of(ORIGIN, PUB)));
  }

  private static byte[] concat(byte[]... parts) {
    byte[] out = new byte[0];
    for (byte[] p : parts) {
      int o = out.length;
      out = Arrays.copyOf(out, o + p.length);
      System.arraycopy(p, 0, out, o, p.length);
    }
    return out;
  }
}
