package io.imskms.hsm;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The result of a {@link ConformanceSelfTest} run: one {@link Suite} per vector file. Safe to print
 * and to log: it holds counts, test-case ids and short reasons, never key material, plaintexts or
 * tags.
 */
public final class ConformanceReport {

  /** Why one test case (or, with {@code tcId} {@link #SUITE}, a whole suite) failed. */
  public record Failure(int tcId, String reason) {
    /** The {@code tcId} of a failure that concerns the whole suite (file missing, bad JSON...). */
    public static final int SUITE = 0;

    public Failure {
      Objects.requireNonNull(reason, "reason");
    }

    @Override
    public String toString() {
      return (tcId == SUITE ? "suite" : "tcId " + tcId) + ": " + reason;
    }
  }

  /**
   * One vector file. Every case ends in exactly one of the counters or in {@code failures}:
   * {@code validPassed}, {@code invalidPassed} and {@code acceptablePassed} count cases inside the
   * adapter's domain that behaved as the vector says; {@code outsideDomainRefused} counts cases
   * outside it that the adapter refused as it must (see {@link ConformanceSelfTest}).
   * {@code casesInFile} is the count the file's header declares (0 if the file was not read).
   */
  public record Suite(String algorithm, String file, int casesInFile, int validPassed,
      int invalidPassed, int acceptablePassed, int outsideDomainRefused, List<Failure> failures) {

    public Suite {
      Objects.requireNonNull(algorithm, "algorithm");
      Objects.requireNonNull(file, "file");
      failures = List.copyOf(failures);
    }

    /** Cases inside the adapter's domain that passed. */
    public int inDomainPassed() {
      return validPassed + invalidPassed + acceptablePassed;
    }

    /** Every case that was run, passed or not (suite-level failures are not cases). */
    public int casesRun() {
      int failedCases = (int) failures.stream().filter(f -> f.tcId() != Failure.SUITE).count();
      return inDomainPassed() + outsideDomainRefused + failedCases;
    }

    public boolean passed() {
      return failures.isEmpty();
    }

    /** One line: algorithm, file and counts. */
    public String summaryLine() {
      return String.format("%-12s %-22s %3d/%3d cases run: valid %3d, invalid %3d, acceptable %d"
              + " passed; outside domain %3d refused; %d failed", algorithm, file, casesRun(),
          casesInFile, validPassed, invalidPassed, acceptablePassed, outsideDomainRefused,
          failures.size());
    }
  }

  private final List<Suite> suites;

  ConformanceReport(List<Suite> suites) {
    this.suites = List.copyOf(suites);
  }

  public List<Suite> suites() {
    return suites;
  }

  /** True when every suite ran and no case failed. */
  public boolean passed() {
    return suites.stream().allMatch(Suite::passed);
  }

  /** Every failure of every suite, each prefixed with its algorithm, e.g. "AES-GCM tcId 7: ...". */
  public List<String> failures() {
    List<String> out = new ArrayList<>();
    for (Suite s : suites) {
      for (Failure f : s.failures()) {
        out.add(s.algorithm() + " " + f);
      }
    }
    return out;
  }

  /** A multi-line human-readable summary: a verdict, one line per suite, then every failure. */
  public String summary() {
    StringBuilder b = new StringBuilder("Wycheproof conformance self-test through the HSM adapter: ")
        .append(passed() ? "PASSED" : "FAILED (" + failures().size() + " failures)").append('\n');
    for (Suite s : suites) {
      b.append("  ").append(s.summaryLine()).append('\n');
    }
    for (String f : failures()) {
      b.append("  FAIL ").append(f).append('\n');
    }
    return b.toString();
  }

  @Override
  public String toString() {
    return summary();
  }
}
