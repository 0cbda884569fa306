package io.imskms.hsm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Comparator;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A real SoftHSM2 token in a fresh temporary directory, one per test JVM (Surefire forks one JVM
 * per test class). SoftHSM2 reads SOFTHSM2_CONF at C_Initialize, so this writes the file that
 * variable names, pointing it at a new token directory, before anything initialises the module.
 */
public final class SoftHsmTestToken implements AutoCloseable {
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Path module;
  private final Path tokenDir;
  private final Path confFile;
  private final String label;
  private final char[] userPin;
  private final char[] soPin;

  private SoftHsmTestToken(Path module, Path tokenDir, Path confFile, String label,
      char[] userPin, char[] soPin) {
    this.module = module;
    this.tokenDir = tokenDir;
    this.confFile = confFile;
    this.label = label;
    this.userPin = userPin;
    this.soPin = soPin;
  }

  private static boolean created;

  /**
   * Creates this JVM's token. Once per JVM: SoftHSM2 keeps its configuration across
   * C_Finalize/C_Initialize, so a second token directory in the same process is not picked up.
   */
  public static synchronized SoftHsmTestToken create() {
    if (created) {
      throw new IllegalStateException("one SoftHsmTestToken per test class (JVM): share it"
          + " with @BeforeAll, or put the test in its own class");
    }
    created = true;
    String confEnv = System.getenv("SOFTHSM2_CONF");
    if (confEnv == null) {
      throw new IllegalStateException("SOFTHSM2_CONF is not set: run the tests through Maven"
          + " (bin/kms test), whose Surefire configuration sets it");
    }
    Path module = Path.of(System.getProperty("kms.softhsmModule",
        "/usr/lib/softhsm/libsofthsm2.so"));
    if (!Files.isReadable(module)) {
      throw new IllegalStateException("SoftHSM2 is not installed (" + module + "): run bin/kms test,"
          + " which installs it, or apt-get install -y softhsm2 opensc");
    }
    try {
      Path conf = Path.of(confEnv);
      Files.createDirectories(conf.getParent());
      Path tokens = Files.createTempDirectory(conf.getParent(), "tokens-");
      Files.writeString(conf, "directories.tokendir = " + tokens.toAbsolutePath() + "\n"
          + "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
          + "slots.mechanisms = ALL\nlibrary.reset_on_fork = false\n", StandardCharsets.UTF_8);
      String label = "test-" + Long.toHexString(RANDOM.nextLong() & 0xffffffL);
      char[] so = randomPin();
      char[] user = randomPin();
      TokenSetup.ensureToken(module, label, so, user);
      return new SoftHsmTestToken(module, tokens, conf, label, user, so);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (HsmException e) {
      throw new IllegalStateException("cannot create the test token: " + e.getMessage(), e);
    }
  }

  private static char[] randomPin() {
    byte[] b = new byte[12];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b).toCharArray();
  }

  public HsmConfig.Builder config() {
    return HsmConfig.builder().modulePath(module).tokenLabel(label).userPin(userPin);
  }

  public Pkcs11Hsm open() throws HsmException {
    return Pkcs11Hsm.open(config().build());
  }

  public Pkcs11Hsm open(Consumer<HsmConfig.Builder> tweak) throws HsmException {
    HsmConfig.Builder b = config();
    tweak.accept(b);
    return Pkcs11Hsm.open(b.build());
  }

  public Path module() {
    return module;
  }

  public Path tokenDir() {
    return tokenDir;
  }

  public Path confFile() {
    return confFile;
  }

  public String label() {
    return label;
  }

  /**
   * A second token in this JVM's token directory (its own label and PINs), e.g. the target of a
   * backup restore. Call it while no {@link Pkcs11Hsm} is open: it initialises and finalises the
   * module.
   */
  public SoftHsmTestToken second() throws HsmException {
    String label2 = "test2-" + Long.toHexString(RANDOM.nextLong() & 0xffffffL);
    char[] so = randomPin();
    char[] user = randomPin();
    TokenSetup.ensureToken(module, label2, so, user);
    return new SoftHsmTestToken(module, tokenDir, confFile, label2, user, so);
  }

  /** The throw-away test token's SO PIN (a backup export needs the SO for the trusted KEK). */
  public char[] soPinForTest() {
    return soPin.clone();
  }

  /** The throw-away test token's PIN, for driving pkcs11-tool in a test. */
  public String userPinForTest() {
    return new String(userPin);
  }

  @Override
  public void close() {
    if (!Files.exists(tokenDir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(tokenDir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
