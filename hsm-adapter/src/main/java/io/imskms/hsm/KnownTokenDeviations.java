package io.imskms.hsm;

import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Conformance-test failures that are measured limitations of a token model, not faults of the
 * adapter or of this KMS's use of the token (docs/architecture.md, "Conformance and known token
 * deviations"). Keyed by {@code "ALGORITHM tcId N"} as {@code ConformanceReport} names cases,
 * with the reason. The adapter's conformance test fails if one of them stops failing, so the list
 * cannot go stale; {@code kms selftest} reports them as known rather than hiding them.
 */
public final class KnownTokenDeviations {
  /** The model string SoftHSM2 reports in CK_TOKEN_INFO. */
  public static final String SOFTHSM2_MODEL = "SoftHSM v2";

  private static final String SHORT_HMAC_KEY = "SoftHSM2 refuses CKM_SHA256_HMAC keys shorter"
      + " than 32 bytes (CKR_KEY_SIZE_RANGE); the KMS's HMAC keys are always 32 bytes";
  private static final String KWP_LENGTH = "SoftHSM2 leaves CKA_VALUE_LEN at 0 on unwrapped keys,"
      + " so a KWP blob of a 9..15- or 20-byte key cannot be told from one of a 16/24-byte key;"
      + " the protocol only ever unwraps KW blobs of 32-byte keys";

  private static final Map<String, String> SOFTHSM2 = softHsm2();

  private KnownTokenDeviations() {}

  private static Map<String, String> softHsm2() {
    Map<String, String> m = new TreeMap<>();
    range(m, "HMAC-SHA-256", 163, 168, SHORT_HMAC_KEY);
    range(m, "AES-KWP", 19, 25, KWP_LENGTH);
    range(m, "AES-KWP", 94, 100, KWP_LENGTH);
    range(m, "AES-KWP", 179, 185, KWP_LENGTH);
    m.put("AES-KWP tcId 159", KWP_LENGTH);
    return Map.copyOf(m);
  }

  private static void range(Map<String, String> m, String algorithm, int from, int to,
      String why) {
    for (int i = from; i <= to; i++) {
      m.put(algorithm + " tcId " + i, why);
    }
  }

  /** Why {@code caseId} is a known deviation of a token of this model, if it is one. */
  public static Optional<String> reason(String tokenModel, String caseId) {
    if (tokenModel == null || !SOFTHSM2_MODEL.equals(tokenModel.strip())) {
      return Optional.empty();
    }
    return Optional.ofNullable(SOFTHSM2.get(caseId));
  }

  /** How many deviations are known for this model. */
  public static int count(String tokenModel) {
    return cases(tokenModel).size();
  }

  /** The case ids known to deviate on a token of this model. */
  public static Set<String> cases(String tokenModel) {
    return tokenModel != null && SOFTHSM2_MODEL.equals(tokenModel.strip()) ? SOFTHSM2.keySet()
        : Set.of();
  }
}
