package io.imskms.hsm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * How to reach the token. The PIN comes from a file or the environment, is held as a char array
 * and never printed ({@link #toString()} omits it).
 */
public final class HsmConfig {
  private final Path modulePath;
  private final String tokenLabel;
  private final char[] userPin;
  private final int poolSize;
  private final Duration borrowTimeout;
  private final long recycleAfterObjects;
  private final Duration recoveryInterval;
  private final boolean deriveTemplateSupported;
  private final Map<String, String> expectedKcvs;
  private final boolean backupCapableKeys;
  private final int sharedKeys;

  private HsmConfig(Builder b) {
    this.modulePath = Objects.requireNonNull(b.modulePath, "modulePath");
    this.tokenLabel = Objects.requireNonNull(b.tokenLabel, "tokenLabel");
    this.userPin = Objects.requireNonNull(b.userPin, "userPin").clone();
    if (b.poolSize < 1) {
      throw new IllegalArgumentException("poolSize must be at least 1");
    }
    this.poolSize = b.poolSize;
    this.borrowTimeout = b.borrowTimeout;
    this.recycleAfterObjects = b.recycleAfterObjects;
    this.recoveryInterval = b.recoveryInterval;
    this.deriveTemplateSupported = b.deriveTemplateSupported;
    this.expectedKcvs = Map.copyOf(b.expectedKcvs);
    this.backupCapableKeys = b.backupCapableKeys;
    if (b.sharedKeys < 0 || b.sharedKeys > MAX_SHARED_KEYS) {
      throw new IllegalArgumentException("sharedKeys must be 0.." + MAX_SHARED_KEYS);
    }
    this.sharedKeys = b.sharedKeys;
  }

  /** The default of {@link #sharedKeys()}. */
  public static final int DEFAULT_SHARED_KEYS = 4096;
  /** The largest {@link #sharedKeys()} accepted: each entry is a live object in the HSM. */
  public static final int MAX_SHARED_KEYS = 1_000_000;

  public static Builder builder() {
    return new Builder();
  }

  /** Reads a PIN from a file (first line, trimmed). The file should be mode 0600. */
  public static char[] readPinFile(Path file) throws IOException {
    byte[] raw = Files.readAllBytes(file);
    try {
      String s = new String(raw, StandardCharsets.UTF_8).strip();
      if (s.isEmpty()) {
        throw new IOException("PIN file " + file + " is empty");
      }
      return s.toCharArray();
    } finally {
      Arrays.fill(raw, (byte) 0);
    }
  }

  public Path modulePath() {
    return modulePath;
  }

  public String tokenLabel() {
    return tokenLabel;
  }

  char[] userPin() {
    return userPin.clone();
  }

  public int poolSize() {
    return poolSize;
  }

  public Duration borrowTimeout() {
    return borrowTimeout;
  }

  /** Recycle the module after this many session objects were created; 0 disables. */
  public long recycleAfterObjects() {
    return recycleAfterObjects;
  }

  /**
   * How many session keys the adapter keeps for {@link HsmSession#deriveShared} (a bounded,
   * least-recently-used cache per module generation; each entry is one live session object in
   * the HSM); 0 turns the cache off, so that every {@code deriveShared} is an ordinary
   * {@link HsmSession#deriveKey}. Default {@value #DEFAULT_SHARED_KEYS}.
   */
  public int sharedKeys() {
    return sharedKeys;
  }

  /** Minimum time between two recovery attempts while the token is unavailable. */
  public Duration recoveryInterval() {
    return recoveryInterval;
  }

  /** Whether derive templates carry CKA_DERIVE_TEMPLATE (real HSMs; SoftHSM2 aborts on it). */
  public boolean deriveTemplateSupported() {
    return deriveTemplateSupported;
  }

  /** Key check values recorded when the keys were made, by "label#vN"; checked at every login. */
  public Map<String, String> expectedKcvs() {
    return expectedKcvs;
  }

  /**
   * Whether long-term keys are generated backup-capable: CKA_EXTRACTABLE=true but
   * CKA_WRAP_WITH_TRUSTED=true, so only a CKA_TRUSTED key (made by the Security Officer in a backup
   * ceremony) can wrap them ({@code core.keyBackup}; docs/architecture.md, "Backup and restore
   * under dual control"). False: never extractable.
   */
  public boolean backupCapableKeys() {
    return backupCapableKeys;
  }

  @Override
  public String toString() {
    return "HsmConfig[module=" + modulePath + ", token=" + tokenLabel + ", pool=" + poolSize
        + ", borrowTimeout=" + borrowTimeout + ", recycleAfterObjects=" + recycleAfterObjects
        + ", sharedKeys=" + sharedKeys
        + ", backupCapableKeys=" + backupCapableKeys + ", pin=<redacted>]";
  }

  /** Builder with the defaults of the embedded SoftHSM2 set-up. */
  public static final class Builder {
    private Path modulePath = Path.of("/usr/lib/softhsm/libsofthsm2.so");
    private String tokenLabel = "ims-kms";
    private char[] userPin;
    private int poolSize = 2;
    private Duration borrowTimeout = Duration.ofSeconds(2);
    private long recycleAfterObjects = 0;
    private Duration recoveryInterval = Duration.ofMillis(500);
    private boolean deriveTemplateSupported = false;
    private Map<String, String> expectedKcvs = Map.of();
    private boolean backupCapableKeys = false;
    private int sharedKeys = DEFAULT_SHARED_KEYS;

    public Builder modulePath(Path v) {
      modulePath = v;
      return this;
    }

    public Builder tokenLabel(String v) {
      tokenLabel = v;
      return this;
    }

    /** The user PIN; the builder keeps a copy, the caller should wipe its own array. */
    public Builder userPin(char[] v) {
      userPin = v.clone();
      return this;
    }

    public Builder poolSize(int v) {
      poolSize = v;
      return this;
    }

    public Builder borrowTimeout(Duration v) {
      borrowTimeout = v;
      return this;
    }

    public Builder recycleAfterObjects(long v) {
      recycleAfterObjects = v;
      return this;
    }

    public Builder recoveryInterval(Duration v) {
      recoveryInterval = v;
      return this;
    }

    public Builder deriveTemplateSupported(boolean v) {
      deriveTemplateSupported = v;
      return this;
    }

    public Builder expectedKcvs(Map<String, String> v) {
      expectedKcvs = v;
      return this;
    }

    /** See {@link HsmConfig#backupCapableKeys()}; default false. */
    public Builder backupCapableKeys(boolean v) {
      backupCapableKeys = v;
      return this;
    }

    /** See {@link HsmConfig#sharedKeys()}; 0 turns the cache off. */
    public Builder sharedKeys(int v) {
      sharedKeys = v;
      return this;
    }

    public HsmConfig build() {
      return new HsmConfig(this);
    }
  }
}
