package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.hsm.ConformanceReport;
import io.imskms.hsm.ConformanceSelfTest;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.KnownTokenDeviations;
import io.imskms.hsm.Pkcs11Hsm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code kms selftest}: the Wycheproof conformance run against the configured token. */
@Command(name = "selftest", mixinStandardHelpOptions = true,
    description = {
            "Run the Wycheproof known-answer vectors (AES-GCM, AES-KW, AES-KWP, " +
            "HMAC-SHA-256, AES-CMAC) through the HSM adapter against the configured token " +
            "(io.imskms.hsm.ConformanceSelfTest) and print the report. Failures that are " +
            "measured limitations of the token model (for SoftHSM v2: 28 cases, " +
            "docs/architecture.md \"Conformance and known token deviations\") are marked " +
            "KNOWN and do not fail the run; any other failure does (exit 1). Keys are " +
            "imported as session objects and destroyed; nothing is left on the token."})
final class SelftestCommand implements Callable<Integer> {
  private final CliContext ctx;

  @Mixin
  ConfigOption config;

  @Option(names = "--vectors", paramLabel = "DIR",
      description = "folder with Wycheproof JSON files to run instead of the bundled ones"
          + " (default: the vectors shipped in the hsm-adapter jar, "
          + ConformanceSelfTest.BUNDLED_VECTORS_SOURCE + ")")
  Path vectors;

  SelftestCommand(CliContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public Integer call() throws Exception {
    if (vectors != null && !Files.isDirectory(vectors)) {
      throw new CliException(ExitCodes.PREREQUISITE, "Wycheproof vector folder not found: "
          + vectors + " (omit --vectors to run the bundled vectors)");
    }
    String source = vectors != null ? vectors.toString()
        : "the bundled set (" + ConformanceSelfTest.BUNDLED_VECTORS_SOURCE + ")";
    ApiConfig cfg = config.load(ctx);
    ConformanceReport report;
    String model;
    try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
      model = hsm.capabilities().model();
      ctx.progress("running the Wycheproof vectors from " + source + " against token '"
          + cfg.hsm().tokenLabel() + "' (" + hsm.capabilities().manufacturer().strip() + " "
          + model.strip() + ") ...");
      report = vectors != null ? ConformanceSelfTest.run(hsm, vectors)
          : ConformanceSelfTest.run(hsm);
    } catch (HsmException e) {
      throw HsmAccess.unavailable(cfg, e);
    }
    ctx.out().println("Wycheproof conformance self-test through the HSM adapter");
    List<String> unexpected = new ArrayList<>();
    int known = 0;
    for (ConformanceReport.Suite s : report.suites()) {
      ctx.out().println("  " + s.summaryLine());
    }
    for (ConformanceReport.Suite s : report.suites()) {
      for (ConformanceReport.Failure f : s.failures()) {
        String caseId = s.algorithm() + " tcId " + f.tcId();
        Optional<String> why = f.tcId() == ConformanceReport.Failure.SUITE ? Optional.empty()
            : KnownTokenDeviations.reason(model, caseId);
        if (why.isPresent()) {
          known++;
          ctx.out().println("  KNOWN " + s.algorithm() + " " + f + "  [token deviation: "
              + why.get() + "]");
        } else {
          unexpected.add(s.algorithm() + " " + f);
          ctx.out().println("  FAIL  " + s.algorithm() + " " + f);
        }
      }
    }
    if (!unexpected.isEmpty()) {
      ctx.out().println("FAILED: " + unexpected.size() + " unexpected failure(s)"
          + (known > 0 ? ", " + known + " known token deviation(s)" : ""));
      ctx.out().flush();
      return ExitCodes.FAILURE;
    }
    ctx.out().println(known == 0 ? "PASSED" : "PASSED with " + known + " known deviation(s) of"
        + " the token model '" + model.strip() + "' (docs/architecture.md)");
    ctx.out().flush();
    return ExitCodes.OK;
  }
}
