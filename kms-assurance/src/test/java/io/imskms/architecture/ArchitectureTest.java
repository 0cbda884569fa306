package io.imskms.architecture;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module boundaries of docs/architecture.md ("Modules and what each may know") as rules over
 * the main classes of every module (test code is not checked). The modules are told apart by
 * where their classes come from ({@link Modules}), not by package.
 */
class ArchitectureTest {
  /** PKCS#11: the IAIK/xipki wrapper and the JDK's own provider. */
  private static final String[] PKCS11 = {"org.xipki..", "iaik..", "sun.security.pkcs11.."};

  /**
   * Which modules each module's main code may use: downward only. A module missing here fails
   * {@link #everyModuleOfTheBuild_isChecked}; an edge missing here fails
   * {@link #noModule_dependsUpwardOrSideways}.
   */
  static final Map<String, Set<String>> ALLOWED = Map.ofEntries(
      Map.entry("kms-protocol", Set.of()),
      Map.entry("hsm-adapter", Set.of()),
      Map.entry("kms-audit", Set.of()),
      Map.entry("kms-client", Set.of("kms-protocol")),
      Map.entry("kms-core", Set.of("hsm-adapter", "kms-protocol", "kms-audit")),
      // the shared replay store: kms-core's ReplayStore on Vert.x's Redis client
      Map.entry("kms-redis", Set.of("kms-core")),
      Map.entry("vertx-api", Set.of("kms-core", "hsm-adapter", "kms-protocol", "kms-audit",
          "kms-redis")),
      Map.entry("reference-mailbox", Set.of("kms-client", "kms-protocol")),
      Map.entry("kms-cli",
          Set.of("vertx-api", "kms-core", "hsm-adapter", "kms-protocol", "kms-audit",
              "kms-redis")),
      Map.entry("kms-demo",
          Set.of("kms-cli", "kms-client", "reference-mailbox", "kms-protocol", "vertx-api")),
      Map.entry("hsm-bench", Set.of("hsm-adapter")),
      // the HTTPS load benchmark: a KMS built in-process, driven through the SDK and the mailbox
      Map.entry("kms-bench", Set.of("kms-core", "hsm-adapter", "kms-protocol", "kms-client",
          "reference-mailbox", "vertx-api", "kms-audit")));

  /** Modules that hold no Java code by design. */
  static final Set<String> NO_CODE = Set.of("kms-dist", "kms-assurance");

  private static JavaClasses main;

  @BeforeAll
  static void importMainClasses() {
    main = new ClassFileImporter()
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .withImportOption(location -> !location.contains("-tests.jar")) // test-jars
        .importPackages("io.imskms");
  }

  private static Path repositoryRoot() {
    return Path.of(System.getProperty("basedir", ".")).toAbsolutePath().getParent();
  }

  @Test
  void everyModuleOfTheBuild_isChecked() throws IOException {
    String pom = Files.readString(repositoryRoot().resolve("pom.xml"));
    Set<String> missing = new TreeSet<>();
    Matcher m = Pattern.compile("<module>([^<]+)</module>").matcher(pom);
    Set<String> seen = new TreeSet<>();
    main.forEach(c -> Modules.of(c).ifPresent(seen::add));
    while (m.find()) {
      String module = m.group(1).trim();
      if (NO_CODE.contains(module)) {
        continue;
      }
      if (!ALLOWED.containsKey(module)) {
        missing.add(module + " (no entry in ArchitectureTest.ALLOWED: say what it may use)");
      } else if (!seen.contains(module)) {
        missing.add(module + " (its classes are not on kms-assurance's class path: add it as a"
            + " dependency in kms-assurance/pom.xml)");
      }
    }
    assertEquals(Set.of(), missing, "modules of the root pom that no architecture rule sees");
  }

  @Test
  void noModule_dependsUpwardOrSideways() {
    classes().should(useOnlyAllowedModules()).check(main);
  }

  @Test
  void kmsCore_usesNoPkcs11WrapperType() {
    noClasses().that(Modules.in("kms-core")).should().dependOnClassesThat()
        .resideInAnyPackage(PKCS11).check(main);
  }

  @Test
  void hsmAdapter_knowsNoProtocolType() {
    noClasses().that(Modules.in("hsm-adapter")).should().dependOnClassesThat()
        .resideInAnyPackage("io.imskms.protocol..", "io.imskms.core..", "io.imskms.client..",
            "io.imskms.api..", "io.imskms.mailbox..", "io.imskms.audit..")
        .check(main);
  }

  @Test
  void kmsClient_hasNoPkcs11AndNoServerType() {
    noClasses().that(Modules.in("kms-client")).should().dependOnClassesThat()
        .resideInAnyPackage(concat(PKCS11, "io.imskms.hsm..", "io.imskms.core..",
            "io.imskms.api..", "io.imskms.cli..", "io.imskms.audit..", "io.vertx.."))
        .check(main);
  }

  /**
   * vertx-api is HTTPS, JSON and problem documents over kms-core: no cipher, MAC, digest, KDF
   * context or key agreement of its own, and no call into an HSM session except through the
   * metrics decorator {@code MeteredHsm}. Its {@code tls} package makes and loads TLS material
   * (dev CA, PEM, PKCS#11 key store), which needs certificate and key APIs.
   */
  @Test
  void vertxApi_holdsNoCryptographicLogic() {
    DescribedPredicate<JavaClass> apiOutsideTls = Modules.in("vertx-api")
        .and(not(resideInAPackage("io.imskms.api.tls..")));
    noClasses().that(apiOutsideTls).should().dependOnClassesThat()
        .resideInAnyPackage("javax.crypto..", "org.bouncycastle..", "io.imskms.client..")
        .orShould().dependOnClassesThat().belongToAnyOf(java.security.Signature.class,
            java.security.KeyPairGenerator.class, javax.crypto.KeyAgreement.class)
        .orShould().dependOnClassesThat().haveFullyQualifiedName(
            "io.imskms.protocol.Contexts")
        .check(main);
    // Audit digests (ticket, client certificate) are computed in kms-audit (AuditEvent.Builder).
    noClasses().that(apiOutsideTls)
        .should().dependOnClassesThat().belongToAnyOf(java.security.MessageDigest.class)
        .check(main);
    noClasses().that(Modules.in("vertx-api")
            .and(not(JavaClass.Predicates.simpleNameStartingWith("MeteredHsm"))))
        .should().callMethodWhere(DescribedPredicate.describe("the target is an HsmSession",
            call -> call.getTarget().getOwner().isAssignableTo("io.imskms.hsm.HsmSession")))
        .as("no vertx-api class but MeteredHsm calls an HsmSession operation")
        .check(main);
  }

  @Test
  void onlyHsmAdapter_touchesTheWrapper_exceptTheBenchmarkThatComparesAgainstIt() {
    noClasses().that(not(Modules.in("hsm-adapter")).and(not(Modules.in("hsm-bench"))))
        .should().dependOnClassesThat().resideInAnyPackage("org.xipki..", "iaik..")
        .because("hsm-adapter is the only code that knows PKCS#11; hsm-bench measures the"
            + " adapter against direct wrapper calls (docs/performance.md)")
        .check(main);
  }

  @Test
  void kmsProtocol_isPureJava() {
    classes().that(Modules.in("kms-protocol")).should().onlyDependOnClassesThat()
        .resideInAnyPackage("java..", "io.imskms.protocol..", "io.imskms.files..")
        .check(main);
  }

  /** kms-audit: pure Java, usable by an offline verifier: no HSM, no server, no network stack. */
  /** kms-redis is a store of digests: no HSM, no protocol, no HTTP; kms-core knows no Vert.x. */
  @Test
  void kmsRedis_knowsOnlyTheReplayStore_andKmsCoreNoVertx() {
    noClasses().that(Modules.in("kms-redis")).should().dependOnClassesThat()
        .resideInAnyPackage(concat(PKCS11, "io.imskms.hsm..", "io.imskms.protocol..",
            "io.imskms.api..", "io.vertx.ext.web.."))
        .check(main);
    noClasses().that(Modules.in("kms-core")).should().dependOnClassesThat()
        .resideInAnyPackage("io.vertx..", "io.netty..")
        .check(main);
  }

  @Test
  void kmsAudit_isPureJava() {
    noClasses().that(Modules.in("kms-audit")).should().dependOnClassesThat()
        .resideInAnyPackage(concat(PKCS11, "io.imskms.hsm..", "io.imskms.core..",
            "io.imskms.api..", "io.imskms.cli..", "io.vertx..", "io.netty.."))
        .allowEmptyShould(true) // until kms-audit is part of the build
        .check(main);
  }

  /**
   * kms-demo plays the seed's principals through the client SDK and the reference mailbox; it may
   * start the CLI's commands and read the server's configuration, but touches no key, HSM or
   * protocol check of the server itself.
   */
  @Test
  void kmsDemo_reachesTheKmsOnlyThroughTheSdk() {
    noClasses().that(Modules.in("kms-demo")).should().dependOnClassesThat()
        .resideInAnyPackage(concat(PKCS11, "io.imskms.hsm..", "io.imskms.core.."))
        .orShould().dependOnClassesThat(Modules.in("vertx-api")
            .and(not(resideInAPackage("io.imskms.api.config.."))))
        .check(main);
  }

  @Test
  void kmsDist_isPackagingOnly() throws IOException {
    Path sources = repositoryRoot().resolve("kms-dist/src/main/java");
    long javaFiles = 0;
    if (Files.isDirectory(sources)) {
      try (Stream<Path> s = Files.walk(sources)) {
        javaFiles = s.filter(p -> p.toString().endsWith(".java")).count();
      }
    }
    assertEquals(0, javaFiles, "kms-dist packages the other modules; it has no code");
    DescribedPredicate<JavaClass> inDist = Modules.in("kms-dist");
    assertTrue(main.stream().noneMatch(inDist::test));
  }

  /** The rules can fail: the same checks, pointed at the code that legitimately does it. */
  @Test
  void rules_seeTheDependenciesTheyForbid() {
    assertThrows(AssertionError.class, () -> noClasses().that(Modules.in("hsm-adapter"))
        .should().dependOnClassesThat().resideInAnyPackage(PKCS11).check(main));
    assertThrows(AssertionError.class, () -> noClasses().that(Modules.in("kms-core"))
        .should().dependOnClassesThat().resideInAnyPackage("io.imskms.protocol..").check(main));
    assertThrows(AssertionError.class, () -> noClasses().that(Modules.in("vertx-api"))
        .should().dependOnClassesThat().resideInAnyPackage("org.bouncycastle..").check(main));
  }

  // ---- helpers ----

  private static ArchCondition<JavaClass> useOnlyAllowedModules() {
    return new ArchCondition<>("use only the modules below their own (ArchitectureTest.ALLOWED)") {
      @Override
      public void check(JavaClass c, ConditionEvents events) {
        String from = Modules.of(c).orElse(null);
        if (from == null) {
          return;
        }
        Set<String> allowed = ALLOWED.getOrDefault(from, Set.of());
        for (Dependency d : c.getDirectDependenciesFromSelf()) {
          JavaClass target = d.getTargetClass().getBaseComponentType();
          if (!target.getPackageName().startsWith("io.imskms")) {
            continue;
          }
          String to = Modules.of(target).orElse("?");
          if (!to.equals(from) && !allowed.contains(to)) {
            events.add(SimpleConditionEvent.violated(d,
                from + " -> " + to + ": " + d.getDescription()));
          }
        }
      }
    };
  }

  private static String[] concat(String[] a, String... b) {
    return Stream.concat(Stream.of(a), Stream.of(b)).toArray(String[]::new);
  }

  static List<String> modulesSeen() {
    return main.stream().map(Modules::of).flatMap(java.util.Optional::stream).distinct()
        .sorted().toList();
  }
}
