package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKK_AES;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKK_GENERIC_SECRET;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * Known-answer conformance self-test: runs Project Wycheproof test vectors through this adapter's
 * public {@link HsmSession} operations against whatever token {@code hsm} is configured for, so it
 * checks the token's mechanisms and the adapter's parameter handling together.
 *
 * <p>Suites, each one file in the vector folder: AES-GCM ({@code aes_gcm_test.json}), AES-KW
 * ({@code aes_wrap_test.json}), AES-KWP ({@code aes_kwp_test.json}), HMAC-SHA-256
 * ({@code hmac_sha256_test.json}) and AES-CMAC ({@code aes_cmac_test.json}).
 *
 * <p>How a case is run: its key is imported in the clear as a session object (the only place the
 * adapter imports a clear key; see {@link Pkcs11Session#importCleartextKeyForSelfTest}), the
 * operation runs through {@link HsmSession}, and the result is compared with the vector. A
 * "valid" case must give exactly the expected output; an "invalid" case must be refused with an
 * {@link HsmException} of kind {@link HsmException.Kind#INTEGRITY INTEGRITY} or
 * {@link HsmException.Kind#POLICY POLICY} (or, for a computation, give a different output); an
 * "acceptable" case may be accepted or refused that way, but must not crash, fail with another
 * kind, or compute a different value. Per operation:
 * <ul>
 *   <li>AES-GCM: {@code encryptGcm} must give {@code ct || tag} and {@code decryptGcm} the
 *       message; an invalid case's {@code decryptGcm} must be refused.
 *   <li>AES-KW / AES-KWP: the message is imported as an extractable AES key and wrapped under the
 *       imported KEK, which must give {@code ct}; {@code ct} is unwrapped and the new key wrapped
 *       again, which must give {@code ct} once more (both modes are deterministic, and the adapter
 *       never reveals an unwrapped key's value). An invalid case's {@code unwrapKey} must be
 *       refused.
 *   <li>HMAC-SHA-256 / AES-CMAC: {@code sign} must give the tag and {@code verify} accept it; an
 *       invalid tag must be refused by {@code verify} and differ from {@code sign}'s.
 * </ul>
 *
 * <p>The adapter's domain is deliberately narrow, and cases outside it are counted separately as
 * "outside domain". For those the self-test checks that the adapter <em>refuses</em> them (kind
 * INTEGRITY or POLICY), whatever the vector's result, because accepting them would mean the
 * adapter's checks do not hold:
 * <ul>
 *   <li>AES-GCM only with 12-byte IVs and 16-byte tags: {@code encryptGcm} and {@code decryptGcm}
 *       must both be refused for any other IV length (including the empty IV);
 *   <li>AES keys only of 16, 24 or 32 bytes: a key of another length must be refused at import,
 *       or else by the operation;
 *   <li>wrapping only of 16-, 24- or 32-byte keys (SoftHSM2's KWP wrap zero-pads any other
 *       length to a multiple of 8 and wraps the padded key): for a wrapped message of another
 *       length, {@code unwrapKey} of {@code ct} must be refused;
 *   <li>MAC verification only of full-length tags (32 bytes HMAC, 16 bytes CMAC): {@code verify}
 *       of a truncated tag must be refused, and the truncated tag is still checked against the
 *       prefix of the full tag from {@code sign}, which still tests the token's MAC.
 * </ul>
 *
 * <p>HMAC keys of any non-empty length are in the domain (the HMAC definition covers them).
 *
 * <p>Expected result on SoftHSM2 2.6.1: 28 failures, both kinds token limitations that the test
 * suite lists as known deviations. HMAC-SHA-256 tcIds 163-168 (16-byte keys: SoftHSM2 refuses
 * HMAC keys shorter than 32 bytes with CKR_KEY_SIZE_RANGE), and AES-KWP tcIds 19-25, 94-100,
 * 159 and 179-185 (KWP blobs of 9..15- and 20-byte keys, which the adapter cannot tell from
 * blobs of 16/24-byte keys because SoftHSM2 leaves CKA_VALUE_LEN at 0 on unwrapped keys).
 *
 * <p>A missing vector folder throws; a missing or malformed vector file, a file whose case count
 * differs from its header, or a suite in which no case ran inside the domain is a suite failure
 * in the report. Nothing is ever skipped.
 *
 * <p>Resources: the cases of a group run in batches of {@value #CASES_PER_SESSION}, each in its
 * own {@link HsmSession}, whose closing destroys every key the batch imported or unwrapped. The
 * self-test needs a session from the pool for its whole run time and creates a few thousand
 * session objects (see the SoftHSM2 native-memory note in the facts sheet).
 */
public final class ConformanceSelfTest {
  /** Cases run in one borrowed session before it is closed and its keys destroyed. */
  static final int CASES_PER_SESSION = 64;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HexFormat HEX = HexFormat.of();
  private static final int HMAC_TAG_BYTES = 32;
  private static final int CMAC_TAG_BYTES = 16;

  private ConformanceSelfTest() {}

  /** The suites, with the vector file and the value of its "algorithm" field. */
  enum SuiteDef {
    AES_GCM("AES-GCM", "aes_gcm_test.json", "AES-GCM"),
    AES_KW("AES-KW", "aes_wrap_test.json", "AES-WRAP"),
    AES_KWP("AES-KWP", "aes_kwp_test.json", "AES-KWP"),
    HMAC_SHA256("HMAC-SHA-256", "hmac_sha256_test.json", "HMACSHA256"),
    AES_CMAC("AES-CMAC", "aes_cmac_test.json", "AES-CMAC");

    final String algorithm;
    final String file;
    final String jsonAlgorithm;

    SuiteDef(String algorithm, String file, String jsonAlgorithm) {
      this.algorithm = algorithm;
      this.file = file;
      this.jsonAlgorithm = jsonAlgorithm;
    }
  }

  /** Where the vectors bundled with this adapter live on the class path. */
  public static final String BUNDLED_VECTORS = "io/imskms/hsm/wycheproof/";

  /**
   * The upstream source of the bundled vectors (C2SP/wycheproof, testvectors_v1); the file
   * {@code SOURCE} beside them says the same, with the licence in {@code LICENSE}.
   */
  public static final String BUNDLED_VECTORS_SOURCE =
      "C2SP/wycheproof testvectors_v1, commit dac1dd4";

  /** Reads one vector file by name; {@code null} when it does not exist. */
  private interface VectorFiles {
    InputStream open(String name) throws IOException;

    String describe(String name);
  }

  /**
   * Runs every suite against {@code hsm} with the vectors bundled in this jar
   * ({@value #BUNDLED_VECTORS}, {@link #BUNDLED_VECTORS_SOURCE}), so that the self-test runs from
   * an installed distribution with no vector folder.
   *
   * @throws HsmException if no session can be borrowed, or the token is lost during the run
   */
  public static ConformanceReport run(Hsm hsm) throws HsmException {
    Objects.requireNonNull(hsm, "hsm");
    ClassLoader cl = ConformanceSelfTest.class.getClassLoader();
    return runAll(hsm, new VectorFiles() {
      @Override
      public InputStream open(String name) {
        return cl.getResourceAsStream(BUNDLED_VECTORS + name);
      }

      @Override
      public String describe(String name) {
        return "classpath:" + BUNDLED_VECTORS + name;
      }
    });
  }

  /**
   * Runs every suite against {@code hsm} with the vector files of a folder.
   *
   * @param vectorDir the folder that holds the Wycheproof JSON files themselves (for example a
   *     newer upstream copy; {@link #run(Hsm)} uses the bundled ones)
   * @throws NoSuchFileException if {@code vectorDir} is not a directory
   * @throws HsmException if no session can be borrowed, or the token is lost during the run
   */
  public static ConformanceReport run(Hsm hsm, Path vectorDir) throws IOException, HsmException {
    Objects.requireNonNull(hsm, "hsm");
    Objects.requireNonNull(vectorDir, "vectorDir");
    if (!Files.isDirectory(vectorDir)) {
      throw new NoSuchFileException(vectorDir.toAbsolutePath().toString(), null,
          "Wycheproof vector folder not found: the conformance self-test cannot run");
    }
    return runAll(hsm, new VectorFiles() {
      @Override
      public InputStream open(String name) throws IOException {
        Path file = vectorDir.resolve(name);
        return Files.isRegularFile(file) ? Files.newInputStream(file) : null;
      }

      @Override
      public String describe(String name) {
        String hint = Files.isDirectory(vectorDir.resolve("wycheproof"))
            ? " (the folder has a wycheproof/ subfolder: pass that one)" : "";
        return vectorDir.resolve(name).toAbsolutePath() + hint;
      }
    });
  }

  private static ConformanceReport runAll(Hsm hsm, VectorFiles files) throws HsmException {
    List<ConformanceReport.Suite> suites = new ArrayList<>();
    for (SuiteDef d : SuiteDef.values()) {
      suites.add(runSuite(hsm, files, d));
    }
    return new ConformanceReport(suites);
  }

  // ---------------------------------------------------------------- suite runner

  private static ConformanceReport.Suite runSuite(Hsm hsm, VectorFiles files, SuiteDef d)
      throws HsmException {
    Tally t = new Tally(d);
    JsonNode root;
    try (InputStream in = files.open(d.file)) {
      if (in == null) {
        return t.suiteFailure("vector file missing: " + files.describe(d.file));
      }
      root = JSON.readTree(in);
    } catch (IOException e) {
      return t.suiteFailure("cannot read the vector file (" + e.getClass().getSimpleName() + ")");
    }
    if (!d.jsonAlgorithm.equals(root.path("algorithm").asText())) {
      return t.suiteFailure("the file's algorithm is '" + root.path("algorithm").asText()
          + "', expected '" + d.jsonAlgorithm + "'");
    }
    JsonNode groups = root.path("testGroups");
    int seen = 0;
    for (JsonNode group : groups) {
      List<JsonNode> tests = new ArrayList<>();
      group.path("tests").forEach(tests::add);
      seen += tests.size();
      for (int from = 0; from < tests.size(); from += CASES_PER_SESSION) {
        try (HsmSession hs = hsm.openSession()) {
          if (!(hs instanceof Pkcs11Session s)) {
            throw new HsmMisconfigurationException("the conformance self-test needs the PKCS#11"
                + " adapter's sessions, got " + hs.getClass().getSimpleName());
          }
          for (JsonNode test : tests.subList(from, Math.min(tests.size(),
              from + CASES_PER_SESSION))) {
            runCase(hsm, s, d, test, t);
          }
        }
      }
    }
    int declared = root.path("numberOfTests").asInt(-1);
    t.declared = Math.max(declared, 0);
    if (declared != seen) {
      t.suiteFailure("the file declares " + declared + " cases but holds " + seen);
    }
    if (t.inDomainPassed() == 0) {
      t.suiteFailure("no case inside the adapter's domain passed");
    }
    return t.build();
  }

  private static void runCase(Hsm hsm, Pkcs11Session s, SuiteDef d, JsonNode test, Tally t)
      throws HsmException {
    int tcId = test.path("tcId").asInt(-1);
    String result = test.path("result").asText("?");
    try {
      Expect e = Expect.of(result);
      boolean outside = switch (d) {
        case AES_GCM -> gcmCase(s, test, e);
        case AES_KW -> wrapCase(s, test, e, WrapMode.KW);
        case AES_KWP -> wrapCase(s, test, e, WrapMode.KWP);
        case HMAC_SHA256 -> macCase(s, test, e, false);
        case AES_CMAC -> macCase(s, test, e, true);
      };
      t.pass(e, outside);
    } catch (Fail f) {
      t.fail(tcId, result + ": " + f.getMessage());
    } catch (HsmException e) {
      t.fail(tcId, result + ": unexpected " + e.getMessage());
    } catch (RuntimeException e) {
      t.fail(tcId, result + ": crashed with " + e.getClass().getName());
    }
    if (!hsm.status().ready()) {
      throw new HsmUnavailableException("the HSM became unavailable during the conformance"
          + " self-test (" + d.algorithm + " tcId " + tcId + ")");
    }
  }

  // ---------------------------------------------------------------- AES-GCM

  /** Returns true when the case is outside the adapter's domain (and was refused). */
  private static boolean gcmCase(Pkcs11Session s, JsonNode test, Expect e)
      throws Fail, HsmException {
    byte[] key = hex(test, "key");
    byte[] iv = hex(test, "iv");
    byte[] aad = hex(test, "aad");
    byte[] msg = hex(test, "msg");
    byte[] ctTag = concat(hex(test, "ct"), hex(test, "tag"));
    int tagLength = hex(test, "tag").length;
    KeyRef k = importAes(s, key, KeyUsage.ENCRYPT, KeyUsage.DECRYPT);
    if (k == null) {
      return true; // key length outside the domain, refused at import
    }
    if (iv.length != Pkcs11Session.GCM_IV_BYTES || tagLength != Pkcs11Session.GCM_TAG_BYTES) {
      mustRefuse("encryptGcm", () -> s.encryptGcm(k, iv, aad, msg));
      mustRefuse("decryptGcm", () -> s.decryptGcm(k, iv, aad, ctTag));
      return true;
    }
    switch (e) {
      case VALID -> {
        expectEqual("encryptGcm", ok("encryptGcm", () -> s.encryptGcm(k, iv, aad, msg)), ctTag);
        expectEqual("decryptGcm", ok("decryptGcm", () -> s.decryptGcm(k, iv, aad, ctTag)), msg);
      }
      case INVALID -> mustRefuse("decryptGcm", () -> s.decryptGcm(k, iv, aad, ctTag));
      case ACCEPTABLE -> {
        byte[] pt = mayRefuse("decryptGcm", () -> s.decryptGcm(k, iv, aad, ctTag));
        if (pt != null) {
          expectEqual("decryptGcm", pt, msg);
        }
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- AES-KW and AES-KWP

  private static boolean wrapCase(Pkcs11Session s, JsonNode test, Expect e, WrapMode mode)
      throws Fail, HsmException {
    byte[] kekValue = hex(test, "key");
    byte[] msg = hex(test, "msg");
    byte[] ct = hex(test, "ct");
    KeyRef kek = importAes(s, kekValue, KeyUsage.WRAP, KeyUsage.UNWRAP);
    if (kek == null) {
      return true;
    }
    KeyAlgorithm keyAlg = aes(msg.length);
    // Unwrap as the key length the blob implies, so the token itself judges as many blobs as
    // possible; the adapter refuses any other blob length before calling the token.
    KeyAlgorithm blobAlg = aes(ct.length - 8);
    KeySpec unwrapAs = wrapTarget(blobAlg != null ? blobAlg
        : keyAlg != null ? keyAlg : KeyAlgorithm.AES_256);
    String unwrapWhat = "unwrapKey of a " + mode + " blob of a " + msg.length + "-byte key as "
        + unwrapAs.algorithm();
    if (keyAlg == null) {
      mustRefuse(unwrapWhat, () -> s.unwrapKey(kek, ct, mode, unwrapAs));
      return true;
    }
    switch (e) {
      case VALID -> {
        KeyRef key = s.importCleartextKeyForSelfTest(CKK_AES, msg, wrapTarget(keyAlg));
        expectEqual("wrapKey", ok("wrapKey", () -> s.wrapKey(kek, key, mode)), ct);
        KeyRef back = ok("unwrapKey", () -> s.unwrapKey(kek, ct, mode, wrapTarget(keyAlg)));
        expectEqual("wrapKey(unwrapKey(ct))", ok("wrapKey of the unwrapped key",
            () -> s.wrapKey(kek, back, mode)), ct);
      }
      case INVALID -> mustRefuse(unwrapWhat, () -> s.unwrapKey(kek, ct, mode, unwrapAs));
      case ACCEPTABLE -> {
        byte[] rewrapped = mayRefuse("unwrapKey", () -> {
          KeyRef back = s.unwrapKey(kek, ct, mode, unwrapAs);
          return s.wrapKey(kek, back, mode);
        });
        if (rewrapped != null) {
          expectEqual("wrapKey(unwrapKey(ct))", rewrapped, ct);
        }
      }
    }
    return false;
  }

  /** The spec of a key that is wrapped or unwrapped: any usage will do, it must be exportable. */
  private static KeySpec wrapTarget(KeyAlgorithm a) {
    return KeySpec.of(a, KeyUsage.ENCRYPT).wrappable();
  }

  // ---------------------------------------------------------------- HMAC-SHA-256 and AES-CMAC

  private static boolean macCase(Pkcs11Session s, JsonNode test, Expect e, boolean cmac)
      throws Fail, HsmException {
    byte[] keyValue = hex(test, "key");
    byte[] msg = hex(test, "msg");
    byte[] tag = hex(test, "tag");
    KeyRef k;
    if (cmac) {
      k = importAes(s, keyValue, KeyUsage.SIGN, KeyUsage.VERIFY);
      if (k == null) {
        return true;
      }
    } else {
      k = s.importCleartextKeyForSelfTest(CKK_GENERIC_SECRET, keyValue,
          KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY));
    }
    int full = cmac ? CMAC_TAG_BYTES : HMAC_TAG_BYTES;
    if (tag.length != full) {
      mustRefuse("verify of a " + tag.length + "-byte tag", () -> {
        s.verify(k, msg, tag);
        return null;
      });
      byte[] prefix = Arrays.copyOf(ok("sign", () -> s.sign(k, msg)), tag.length);
      if (e == Expect.VALID) {
        expectEqual("prefix of sign", prefix, tag);
      } else if (e == Expect.INVALID && Arrays.equals(prefix, tag)) {
        throw new Fail("prefix of sign equals the invalid tag");
      }
      return true;
    }
    switch (e) {
      case VALID -> {
        expectEqual("sign", ok("sign", () -> s.sign(k, msg)), tag);
        ok("verify", () -> {
          s.verify(k, msg, tag);
          return null;
        });
      }
      case INVALID -> {
        mustRefuse("verify", () -> {
          s.verify(k, msg, tag);
          return null;
        });
        if (Arrays.equals(ok("sign", () -> s.sign(k, msg)), tag)) {
          throw new Fail("sign equals the invalid tag");
        }
      }
      case ACCEPTABLE -> mayRefuse("verify", () -> {
        s.verify(k, msg, tag);
        return null;
      });
    }
    return false;
  }

  // ---------------------------------------------------------------- helpers

  /** The AES algorithm for a key of {@code length} bytes, or null outside the domain. */
  static KeyAlgorithm aes(int length) {
    return switch (length) {
      case 16 -> KeyAlgorithm.AES_128;
      case 24 -> KeyAlgorithm.AES_192;
      case 32 -> KeyAlgorithm.AES_256;
      default -> null;
    };
  }

  /**
   * Imports an AES key. For a length outside the domain, the import must be refused and null is
   * returned; if the token accepts such a key anyway, the case fails.
   */
  private static KeyRef importAes(Pkcs11Session s, byte[] value, KeyUsage first,
      KeyUsage... rest) throws Fail, HsmException {
    KeyAlgorithm a = aes(value.length);
    if (a == null) {
      mustRefuse("import of a " + value.length + "-byte AES key",
          () -> s.importCleartextKeyForSelfTest(CKK_AES, value,
              KeySpec.of(KeyAlgorithm.AES_128, first, rest)));
      return null;
    }
    return s.importCleartextKeyForSelfTest(CKK_AES, value, KeySpec.of(a, first, rest));
  }

  @FunctionalInterface
  private interface Op<T> {
    T call() throws HsmException;
  }

  private static boolean isRefusal(HsmException e) {
    return e.kind() == HsmException.Kind.INTEGRITY || e.kind() == HsmException.Kind.POLICY;
  }

  /** The operation must succeed. */
  private static <T> T ok(String what, Op<T> op) throws Fail {
    try {
      return op.call();
    } catch (HsmException e) {
      throw new Fail(what + " was refused: " + e.getMessage());
    }
  }

  /** The operation must be refused with INTEGRITY or POLICY. */
  private static void mustRefuse(String what, Op<?> op) throws Fail {
    try {
      op.call();
    } catch (HsmException e) {
      if (isRefusal(e)) {
        return;
      }
      throw new Fail(what + " failed with " + e.getMessage() + " instead of a refusal");
    }
    throw new Fail(what + " was accepted, but must be refused");
  }

  /** The operation may succeed (returns its output) or be refused properly (returns null). */
  private static <T> T mayRefuse(String what, Op<T> op) throws Fail {
    try {
      return op.call();
    } catch (HsmException e) {
      if (isRefusal(e)) {
        return null;
      }
      throw new Fail(what + " failed with " + e.getMessage());
    }
  }

  private static void expectEqual(String what, byte[] got, byte[] expected) throws Fail {
    if (!Arrays.equals(got, expected)) {
      // Lengths only: outputs may be key material (a wrapped key) or derived from it.
      throw new Fail(what + " output differs from the vector (" + got.length + " bytes, expected "
          + expected.length + ")");
    }
  }

  private static byte[] hex(JsonNode test, String field) throws Fail {
    JsonNode n = test.get(field);
    if (n == null || !n.isTextual()) {
      throw new Fail("malformed vector: no '" + field + "'");
    }
    try {
      return HEX.parseHex(n.asText());
    } catch (IllegalArgumentException e) {
      throw new Fail("malformed vector: '" + field + "' is not hex");
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** A case failed; the message is short and never holds key material. */
  private static final class Fail extends Exception {
    Fail(String reason) {
      super(reason, null, false, false);
    }
  }

  private enum Expect {
    VALID,
    INVALID,
    ACCEPTABLE;

    static Expect of(String result) throws Fail {
      return switch (result) {
        case "valid" -> VALID;
        case "invalid" -> INVALID;
        case "acceptable" -> ACCEPTABLE;
        default -> throw new Fail("malformed vector: unknown result");
      };
    }
  }

  /** Counts of one suite while it runs. */
  private static final class Tally {
    private final SuiteDef d;
    private int valid;
    private int invalid;
    private int acceptable;
    private int outside;
    int declared;
    private final List<ConformanceReport.Failure> failures = new ArrayList<>();

    Tally(SuiteDef d) {
      this.d = d;
    }

    void pass(Expect e, boolean outsideDomain) {
      if (outsideDomain) {
        outside++;
        return;
      }
      switch (e) {
        case VALID -> valid++;
        case INVALID -> invalid++;
        case ACCEPTABLE -> acceptable++;
      }
    }

    void fail(int tcId, String reason) {
      failures.add(new ConformanceReport.Failure(tcId, reason));
    }

    int inDomainPassed() {
      return valid + invalid + acceptable;
    }

    ConformanceReport.Suite suiteFailure(String reason) {
      failures.add(new ConformanceReport.Failure(ConformanceReport.Failure.SUITE, reason));
      return build();
    }

    ConformanceReport.Suite build() {
      return new ConformanceReport.Suite(d.algorithm, d.file, declared, valid, invalid,
          acceptable, outside, failures);
    }
  }
}
