package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Wycheproof conformance self-test through the adapter against a real SoftHSM2 token. Every
 * failing case of every suite is collected and asserted once, so one run shows them all.
 */
class ConformanceSelfTestTest {
  /**
   * The run uses the vectors bundled in hsm-adapter (src/main/resources, {@link
   * ConformanceSelfTest#BUNDLED_VECTORS}). Cases each suite must at least pass inside the adapter's domain, and refuse outside it, so
   * that an empty or truncated run cannot pass: the counts SoftHSM2 2.6.1 gives with the
   * Wycheproof files of testvectors_v1 commit dac1dd4 (a token without SoftHSM2's deviations
   * below passes more).
   */
  private static final Map<String, int[]> MIN_IN_DOMAIN_AND_OUTSIDE = Map.of(
      "AES-GCM", new int[] {197, 119},
      "AES-KW", new int[] {108, 57},
      "AES-KWP", new int[] {94, 138},
      "HMAC-SHA-256", new int[] {84, 84},
      "AES-CMAC", new int[] {306, 5});

  /**
   * Known deviations of SoftHSM2 2.6.1, as "ALGORITHM tcId N", each measured. They still appear
   * as failures in the report (and so in {@code bin/kms selftest}); the test only stops failing
   * on them, and fails if one of them starts to pass, so the list cannot go stale.
   */
  /** Measured SoftHSM2 limitations, with reasons: {@link KnownTokenDeviations}. */
  private static final Set<String> KNOWN_DEVIATIONS =
      KnownTokenDeviations.cases(KnownTokenDeviations.SOFTHSM2_MODEL);


  private static SoftHsmTestToken token;
  private static Pkcs11Hsm hsm;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
  }

  @AfterAll
  static void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  /** Copies one bundled vector file out of the class path into {@code dir}. */
  private static void copyBundled(String name, Path dir) throws Exception {
    try (InputStream in = ConformanceSelfTestTest.class.getClassLoader()
        .getResourceAsStream(ConformanceSelfTest.BUNDLED_VECTORS + name)) {
      assertNotNull(in, "bundled vector file missing: " + name);
      Files.copy(in, dir.resolve(name));
    }
  }

  @Test
  void bundledVectors_matchTheirRecordedDigests_andCarryLicenceAndSource() throws Exception {
    ClassLoader cl = ConformanceSelfTestTest.class.getClassLoader();
    String sums;
    try (InputStream in = cl.getResourceAsStream(ConformanceSelfTest.BUNDLED_VECTORS
        + "SHA256SUMS")) {
      assertNotNull(in, "SHA256SUMS missing");
      sums = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    }
    List<String> bad = new ArrayList<>();
    int files = 0;
    for (String line : sums.strip().split("\n")) {
      String[] f = line.split(" +");
      try (InputStream in = cl.getResourceAsStream(ConformanceSelfTest.BUNDLED_VECTORS + f[1])) {
        if (in == null) {
          bad.add(f[1] + ": missing");
          continue;
        }
        String got = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
            .digest(in.readAllBytes()));
        if (!got.equals(f[0])) {
          bad.add(f[1] + ": SHA-256 " + got + ", recorded " + f[0]);
        }
        files++;
      }
    }
    assertEquals(List.of(), bad);
    assertEquals(5, files, "one file per suite");
    for (String name : new String[] {"LICENSE", "SOURCE"}) {
      assertNotNull(cl.getResource(ConformanceSelfTest.BUNDLED_VECTORS + name), name);
    }
    assertTrue(ConformanceSelfTest.BUNDLED_VECTORS_SOURCE.contains("dac1dd4"));
  }

  @Test
  void wycheproofVectors_throughTheAdapter_allPass_andNoSessionObjectLeaks() throws Exception {
    long objectsBefore = hsm.countSessionObjects();

    ConformanceReport report = ConformanceSelfTest.run(hsm);
    printMarkingKnownDeviations(report);

    assertEquals(objectsBefore, hsm.countSessionObjects(),
        "session objects left behind by the self-test");
    assertEquals(MIN_IN_DOMAIN_AND_OUTSIDE.keySet().size(), report.suites().size());
    for (ConformanceReport.Suite s : report.suites()) {
      int[] min = MIN_IN_DOMAIN_AND_OUTSIDE.get(s.algorithm());
      assertNotNull(min, "unexpected suite " + s.algorithm());
      assertEquals(s.casesInFile(), s.casesRun(), s.algorithm() + ": not every case ran");
      assertTrue(s.inDomainPassed() >= min[0], s.algorithm() + ": only " + s.inDomainPassed()
          + " cases passed inside the adapter's domain, expected at least " + min[0]);
      assertTrue(s.outsideDomainRefused() >= min[1], s.algorithm() + ": only "
          + s.outsideDomainRefused() + " cases outside the domain were refused, expected at least "
          + min[1]);
    }

    List<String> failures = new ArrayList<>();
    Set<String> deviationsSeen = new TreeSet<>();
    for (ConformanceReport.Suite s : report.suites()) {
      for (ConformanceReport.Failure f : s.failures()) {
        String id = s.algorithm() + " tcId " + f.tcId();
        if (KNOWN_DEVIATIONS.contains(id)) {
          deviationsSeen.add(id);
        } else {
          failures.add(s.algorithm() + " " + f);
        }
      }
    }
    Set<String> stale = new TreeSet<>(KNOWN_DEVIATIONS);
    stale.removeAll(deviationsSeen);
    if (!stale.isEmpty()) {
      failures.add("known deviations that no longer fail (remove them): " + stale);
    }
    assertEquals(List.of(), failures, failures.size() + " conformance failures");
  }

  /** The report as {@code kms selftest} prints it: known token deviations are marked as such. */
  private static void printMarkingKnownDeviations(ConformanceReport report) {
    System.out.println("Wycheproof conformance through the adapter (known deviations of "
        + KnownTokenDeviations.SOFTHSM2_MODEL + " marked KNOWN):");
    for (ConformanceReport.Suite s : report.suites()) {
      System.out.println("  " + s.summaryLine());
      for (ConformanceReport.Failure f : s.failures()) {
        String id = s.algorithm() + " tcId " + f.tcId();
        System.out.println("  " + (KNOWN_DEVIATIONS.contains(id) ? "KNOWN " : "FAIL  ") + id);
      }
    }
  }

  @Test
  void missingVectorFolder_failsTheRun() {
    Path missing = Path.of(System.getProperty("java.io.tmpdir"), "no-such-vectors-folder");
    assertThrows(NoSuchFileException.class, () -> ConformanceSelfTest.run(hsm, missing));
  }

  @Test
  void missingVectorFile_failsItsSuite_neverSkips(@TempDir Path dir) throws Exception {
    copyBundled("aes_cmac_test.json", dir);

    ConformanceReport report = ConformanceSelfTest.run(hsm, dir);

    assertFalse(report.passed());
    for (ConformanceReport.Suite s : report.suites()) {
      if (s.algorithm().equals("AES-CMAC")) {
        assertTrue(s.passed(), s.summaryLine());
        assertEquals(s.casesInFile(), s.casesRun());
      } else {
        assertFalse(s.passed(), s.algorithm() + " passed without its vector file");
        assertEquals(0, s.casesRun());
        assertTrue(s.failures().get(0).reason().startsWith("vector file missing"),
            s.failures().toString());
      }
    }
  }

  @Test
  void vectorFileWithoutCases_failsItsSuite(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("aes_cmac_test.json"),
        "{\"algorithm\":\"AES-CMAC\",\"numberOfTests\":0,\"testGroups\":[]}");

    ConformanceReport.Suite cmac = ConformanceSelfTest.run(hsm, dir).suites().stream()
        .filter(s -> s.algorithm().equals("AES-CMAC")).findFirst().orElseThrow();

    assertFalse(cmac.passed(), "an empty suite must not pass");
  }
}
