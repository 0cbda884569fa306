package io.imskms.cli;

import io.imskms.api.audit.AuditKeys;
import io.imskms.api.config.ApiConfig;
import io.imskms.audit.AuditEvent;
import io.imskms.core.keys.KeyBackup;
import io.imskms.core.keys.KeyRing;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.KeyCeremony;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.Pkcs11KeyCeremony;
import java.io.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code kms keys export|import|new-component}: backup and restore of the long-term keys under
 * dual control (docs/architecture.md "Backup and restore under dual control", docs/operations.md
 * "Backup", docs/compliance.md "Key ceremony"). Key components are read from files or typed
 * without echo, sent into the HSM one by one and wiped; only their check values are printed.
 * Every run is recorded in this host's CLI audit log ({@link CliAudit}: {@code keys.component},
 * {@code keys.export}, {@code keys.import}).
 */
final class KeysBackupCommand {
  private KeysBackupCommand() {}

  static final String COMPONENT_EVENT = "keys.component";
  static final String EXPORT_EVENT = "keys.export";
  static final String IMPORT_EVENT = "keys.import";
  private static final byte[] KCV_CONTEXT =
      "imskms-kcv-v1".getBytes(StandardCharsets.US_ASCII);

  /** The check digits of a component: the first two bytes of its SHA-256, in hex. */
  static String checkDigits(byte[] component) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(component),
          0, 2);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The key check value the HSM prints for a component (the adapter's KCV of an AES DERIVE key:
   * HMAC-SHA-256 of "imskms-kcv-v1" under AES-256-ECB(component, SHA-256("imskms-kcv-v1")), 8
   * bytes), computed here for the custodian's sheet when a component is made.
   */
  static String componentKcv(byte[] component) {
    byte[] k = null;
    try {
      Cipher aes = Cipher.getInstance("AES/ECB/NoPadding");
      aes.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(component, "AES"));
      k = aes.doFinal(MessageDigest.getInstance("SHA-256").digest(KCV_CONTEXT));
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(k, "HmacSHA256"));
      return HexFormat.of().formatHex(mac.doFinal(KCV_CONTEXT), 0, 8);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    } finally {
      if (k != null) {
        Arrays.fill(k, (byte) 0);
      }
    }
  }

  /**
   * A component as a custodian writes it: 64 hex digits and 4 check digits; spaces, dashes and
   * lines starting with '#' are ignored. The error never echoes the input.
   */
  static byte[] parseComponent(char[] text, int index) throws CliException {
    char[] digits = new char[text.length];
    int n = 0;
    boolean comment = false;
    boolean lineStart = true;
    for (char ch : text) {
      if (ch == '\n' || ch == '\r') {
        comment = false;
        lineStart = true;
        continue;
      }
      if (lineStart && ch == '#') {
        comment = true;
      }
      lineStart = false;
      if (comment || ch == ' ' || ch == '\t' || ch == '-') {
        continue;
      }
      digits[n++] = Character.toLowerCase(ch);
    }
    try {
      int want = 2 * KeyCeremony.COMPONENT_BYTES + 4;
      if (n != want) {
        throw new CliException(ExitCodes.FAILURE, "component " + index + ": expected "
            + want + " hex digits (64 of the component, 4 check digits), got " + n);
      }
      byte[] c = new byte[KeyCeremony.COMPONENT_BYTES];
      for (int i = 0; i < c.length; i++) {
        int hi = Character.digit(digits[2 * i], 16);
        int lo = Character.digit(digits[2 * i + 1], 16);
        if (hi < 0 || lo < 0) {
          Arrays.fill(c, (byte) 0);
          throw new CliException(ExitCodes.FAILURE, "component " + index
              + ": not hexadecimal");
        }
        c[i] = (byte) (hi << 4 | lo);
      }
      String check = new String(digits, 2 * KeyCeremony.COMPONENT_BYTES, 4);
      if (!check.equals(checkDigits(c))) {
        Arrays.fill(c, (byte) 0);
        throw new CliException(ExitCodes.FAILURE, "component " + index + ": the check digits do"
            + " not match the component: a typing error? Enter it again");
      }
      return c;
    } finally {
      Arrays.fill(digits, '\0');
    }
  }

  /** How the components of one ceremony are entered. */
  static final class ComponentOptions {
    @Option(names = "--components", paramLabel = "N",
        description = "number of key components (custodians), at least 2; default 2 for an"
            + " export, the file's number for an import")
    Integer components;

    @Option(names = "--component-file", paramLabel = "FILE",
        description = "a custodian's component file (kms keys new-component), once per"
            + " custodian in ceremony order; without it each component is typed at the terminal"
            + " without echo")
    List<Path> files = new ArrayList<>();

    int count(CommandSpec spec, int fallback) {
      int n = components != null ? components : fallback;
      if (n < 2) {
        throw new ParameterException(spec.commandLine(), "--components must be at least 2:"
            + " dual control needs two custodians or more");
      }
      if (!files.isEmpty() && files.size() != n) {
        throw new ParameterException(spec.commandLine(), files.size() + " --component-file"
            + " given for " + n + " components");
      }
      return n;
    }

    /** Component {@code i} (1-based); the caller wipes it. */
    byte[] read(CliContext ctx, int i, int n) throws CliException {
      char[] text;
      if (!files.isEmpty()) {
        Path f = files.get(i - 1);
        byte[] raw;
        try {
          raw = Files.readAllBytes(f);
        } catch (IOException e) {
          throw new CliException(ExitCodes.PREREQUISITE, "cannot read component file " + f);
        }
        text = new String(raw, StandardCharsets.US_ASCII).toCharArray();
        Arrays.fill(raw, (byte) 0);
      } else {
        Console console = System.console();
        if (console == null) {
          throw new CliException(ExitCodes.PREREQUISITE, "no terminal to type component " + i
              + " on: run the ceremony at a terminal, or give --component-file once per"
              + " custodian");
        }
        ctx.progress("custodian " + i + " of " + n + ": type your component (64 hex digits"
            + " and 4 check digits; spaces allowed; not shown)");
        text = console.readPassword("component %d: ", i);
        if (text == null) {
          throw new CliException(ExitCodes.FAILURE, "component " + i + ": nothing entered");
        }
      }
      try {
        return parseComponent(text, i);
      } finally {
        Arrays.fill(text, '\0');
      }
    }
  }

  private static CliException failure(HsmException e) {
    return new CliException(ExitCodes.FAILURE, e.getMessage(), e);
  }

  /** {@code kms keys export --out FILE}. */
  @Command(name = "export", mixinStandardHelpOptions = true,
      description = {
            "Write every long-term key version (every purpose) to FILE, wrapped (RFC 5649) " +
            "under a KEK assembled inside the HSM from N key components entered one by one " +
            "by their custodians, with each key's label, version, state and KCV, the lifecycle " +
            "record, and a MAC computed in the HSM; mode 0600, never overwritten. The KEK is " +
            "made by the Security Officer (SO PIN: KMS_HSM_SO_PIN or --so-pin-file) with " +
            "CKA_TRUSTED, the only kind of key that can wrap keys generated with " +
            "core.keyBackup: true. Keys generated never extractable cannot be exported: the " +
            "command names them and fails, except retired ones, which are left out and listed. " +
            "Nothing secret is printed: component and KEK check values only."})
  static final class Export implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOption config;

    @Mixin
    ComponentOptions components;

    @Option(names = "--out", paramLabel = "FILE", required = true,
        description = "the backup file to write (must not exist)")
    Path out;

    @Option(names = "--so-pin-file", paramLabel = "FILE",
        description = "file holding the SO PIN (default: so.pin next to hsm.pinFile;"
            + " KMS_HSM_SO_PIN wins when set)")
    Path soPinFile;

    Export(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      int n = components.count(spec, 2);
      ApiConfig cfg = config.load(ctx);
      HsmAccess.checkPrerequisites(cfg, ctx);
      if (Files.exists(out)) {
        throw new CliException(ExitCodes.FAILURE, out + " exists; refusing to overwrite a"
            + " backup");
      }
      HsmConfig hc = HsmAccess.hsmConfig(cfg, ctx);
      char[] so = soPin(ctx, cfg, soPinFile);
      if (so == null) {
        throw new CliException(ExitCodes.PREREQUISITE, "an export needs the Security Officer's"
            + " PIN (KMS_HSM_SO_PIN, --so-pin-file, or so.pin next to hsm.pinFile): only an SO"
            + " session can make the trusted KEK");
      }
      List<String> kcvs = new ArrayList<>();
      try (KeyCeremony c = Pkcs11KeyCeremony.open(hc, KeyCeremony.Purpose.EXPORT, so)) {
        Arrays.fill(so, '\0');
        for (int i = 1; i <= n; i++) {
          byte[] comp = components.read(ctx, i, n);
          try {
            kcvs.add(c.addComponent(comp));
          } finally {
            Arrays.fill(comp, (byte) 0);
          }
          ctx.out().printf("component %d of %d entered: kcv %s%n", i, n, kcvs.get(i - 1));
          ctx.out().flush();
        }
        String kek = c.assemble();
        ctx.out().printf("KEK assembled in the HSM from %d components: kcv %s%n", n, kek);
        try (Pkcs11Hsm hsm = Pkcs11Hsm.open(hc); CliAudit audit = CliAudit.open(cfg, hsm, ctx)) {
          recordComponents(audit, kcvs, "export");
          AuditEvent.Builder rec = audit.event(EXPORT_EVENT, AuditEvent.Outcome.OK);
          try {
            KeyBackup.Exported e = KeyBackup.export(hsm, c, cfg.hsm().tokenLabel(), kcvs, kek);
            KeyBackup.write(out, e.bytes());
            String format = "%-16s %7s  %-12s %-16s%n";
            ctx.out().printf(format, "LABEL", "VERSION", "STATE", "KCV");
            for (KeyBackup.Key k : e.keys()) {
              ctx.out().printf(format, k.purpose().label(), k.version(), k.state().cliName(),
                  k.kcv());
            }
            for (KeyBackup.Omitted o : e.omitted()) {
              ctx.out().println("not exported: " + o.id() + " (" + o.state().cliName() + "): "
                  + o.reason());
            }
            rec.detail("file " + out.getFileName() + ", " + e.keys().size() + " keys, "
                + e.omitted().size() + " left out, " + n + " components, kek kcv " + kek);
            try {
              audit.record(rec.build());
            } catch (CliException unrecorded) {
              // No backup without its audit record.
              Files.deleteIfExists(out);
              throw unrecorded;
            }
            ctx.progress("backup written: " + out + " (mode 0600, " + e.keys().size()
                + " keys); store it apart from the components");
          } catch (Exception ex) {
            audit.recordFailure(rec, EXPORT_EVENT, ex);
            throw ex;
          }
        }
      } catch (HsmPolicyException | HsmIntegrityException e) {
        throw failure(e);
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      } catch (FileAlreadyExistsException e) {
        throw new CliException(ExitCodes.FAILURE, out + " exists; refusing to overwrite a"
            + " backup");
      } catch (IOException e) {
        throw new CliException(ExitCodes.FAILURE, "cannot write " + out + ": " + e.getMessage());
      } finally {
        Arrays.fill(so, '\0');
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }

  private static void recordComponents(CliAudit audit, List<String> kcvs, String what)
      throws CliException {
    for (int i = 0; i < kcvs.size(); i++) {
      audit.record(audit.event(COMPONENT_EVENT, AuditEvent.Outcome.OK)
          .detail(what + ": component " + (i + 1) + " of " + kcvs.size() + " entered, kcv "
              + kcvs.get(i)).build());
    }
  }

  /** {@code kms keys import --in FILE}. */
  @Command(name = "import", mixinStandardHelpOptions = true,
      description = {
            "Restore a backup made by kms keys export into this token, under the same " +
            "components entered in the same order: each component's KCV is checked against " +
            "the file as it is entered, then the KEK's, the file's MAC (a modified file is " +
            "refused), and every key by a trial unwrap and its KCV. A token that holds a " +
            "different key under a label of the file is refused (nothing imported); the same " +
            "key already present is skipped. Keys are restored sensitive and unmodifiable, " +
            "never extractable (or, with core.keyBackup: true, extractable only under a " +
            "trusted key); the lifecycle states of the file are written to the token, and " +
            "the key manifest (core.keyManifest). A token without an audit key gets a new " +
            "one (its verifier key is printed)."})
  static final class Import implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOption config;

    @Mixin
    ComponentOptions components;

    @Option(names = "--in", paramLabel = "FILE", required = true,
        description = "the backup file made by kms keys export")
    Path in;

    Import(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      if (components.components != null) {
        components.count(spec, 2);
      }
      ApiConfig cfg = config.load(ctx);
      HsmAccess.checkPrerequisites(cfg, ctx);
      KeyBackup.File file;
      try {
        file = KeyBackup.parse(Files.readAllBytes(in));
      } catch (IOException e) {
        throw new CliException(ExitCodes.FAILURE, "cannot read " + in + ": " + e.getMessage());
      } catch (HsmIntegrityException e) {
        throw new CliException(ExitCodes.FAILURE, in + ": " + e.getMessage());
      }
      int n = components.count(spec, file.components());
      if (n != file.components()) {
        throw new CliException(ExitCodes.FAILURE, in + " was made with " + file.components()
            + " components, not " + n);
      }
      ctx.progress("backup of token '" + file.sourceToken() + "' made " + file.created()
          + " under " + n + " components (KEK kcv " + file.kekKcv() + ")");
      HsmConfig hc = HsmAccess.hsmConfig(cfg, ctx);
      try (Pkcs11Hsm hsm = Pkcs11Hsm.open(hc)) {
        if (AuditKeys.ensure(hsm, cfg.audit())) {
          ctx.out().println("audit key " + cfg.audit().keyLabel() + " generated in this token;"
              + " audit verifier key: " + AuditKeys.verifierKey(hsm, cfg.audit()).encode());
        }
        try (CliAudit audit = CliAudit.open(cfg, hsm, ctx);
            KeyCeremony c = Pkcs11KeyCeremony.open(hc, KeyCeremony.Purpose.IMPORT, null)) {
          AuditEvent.Builder rec = audit.event(IMPORT_EVENT, AuditEvent.Outcome.OK);
          try {
            restore(cfg, hsm, audit, c, file, n, rec);
            audit.record(rec.build());
          } catch (Exception ex) {
            audit.recordFailure(rec, IMPORT_EVENT, ex);
            throw ex;
          }
        }
      } catch (HsmPolicyException | HsmIntegrityException e) {
        throw failure(e);
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }

    private void restore(ApiConfig cfg, Pkcs11Hsm hsm, CliAudit audit, KeyCeremony c,
        KeyBackup.File file, int n, AuditEvent.Builder rec) throws Exception {
      List<String> recorded = file.componentKcvs();
      List<String> kcvs = new ArrayList<>();
      for (int i = 1; i <= n; i++) {
        byte[] comp = components.read(ctx, i, n);
        String kcv;
        try {
          kcv = c.addComponent(comp);
        } finally {
          Arrays.fill(comp, (byte) 0);
        }
        kcvs.add(kcv);
        ctx.out().printf("component %d of %d entered: kcv %s%n", i, n, kcv);
        ctx.out().flush();
        String want = recorded.size() >= i ? recorded.get(i - 1) : "?";
        if (!kcv.equals(want)) {
          recordComponents(audit, kcvs, "import");
          throw new CliException(ExitCodes.FAILURE, "component " + i + " has check value " + kcv
              + ", but the backup records " + want + " for component " + i + ": a wrong"
              + " component, or the components were entered in another order; nothing was"
              + " imported");
        }
      }
      recordComponents(audit, kcvs, "import");
      String kek = c.assemble();
      ctx.out().printf("KEK assembled in the HSM from %d components: kcv %s%n", n, kek);
      if (!kek.equals(file.kekKcv())) {
        throw new CliException(ExitCodes.FAILURE, "the KEK of these components has check value "
            + kek + ", but the backup was made under " + file.kekKcv() + "; nothing was"
            + " imported");
      }
      KeyBackup.verify(file, c);
      KeyBackup.Plan plan = KeyBackup.plan(file, c);
      for (KeyBackup.Key k : plan.alreadyPresent()) {
        ctx.out().println("already in the token, the same key (kcv " + k.kcv() + "): " + k.id()
            + "; skipped");
      }
      boolean backupCapable = cfg.core().keyBackup();
      KeyBackup.restore(plan, c, backupCapable);
      hsm.admitRestoredKeys(plan.kcvs());
      KeyBackup.writeLifecycle(hsm, plan);
      for (String line : KeyBackup.writeRecords(hsm, plan)) {
        ctx.progress("token record " + line);
      }
      KeyRing ring = KeyRing.load(hsm);
      KeysCommand.print(ctx, ring.describe());
      rec.detail("file " + in.getFileName() + ", " + plan.toRestore().size() + " keys restored ("
          + (backupCapable ? "backup-capable" : "never extractable") + "), "
          + plan.alreadyPresent().size() + " already present, kek kcv " + kek);
      ctx.progress(plan.toRestore().size() + " keys restored, " + plan.alreadyPresent().size()
          + " already present; lifecycle states written to the token");
      KeysCommand.updateManifest(ctx, cfg, ring);
    }
  }

  /** {@code kms keys new-component --out FILE}. */
  @Command(name = "new-component", mixinStandardHelpOptions = true,
      description = {
            "Make one custodian's key component: 32 random bytes written to FILE (mode 0600, " +
            "never overwritten) as 64 hex digits and 4 check digits, with its KCV. Run it once " +
            "per custodian, ideally on an offline machine; print or copy the file for the " +
            "custodian and delete it. Only the KCV is printed. Needs no token."})
  static final class NewComponent implements Callable<Integer> {
    private final CliContext ctx;

    @Option(names = "--out", paramLabel = "FILE", required = true,
        description = "where to write the component (must not exist)")
    Path out;

    NewComponent(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      byte[] c = new byte[KeyCeremony.COMPONENT_BYTES];
      new SecureRandom().nextBytes(c);
      String kcv = componentKcv(c);
      StringBuilder text = new StringBuilder();
      text.append("# IMS KMS backup key component: secret of ONE custodian; keep it offline\n")
          .append("# kcv ").append(kcv).append('\n');
      String hex = HexFormat.of().formatHex(c);
      for (int i = 0; i < hex.length(); i += 4) {
        text.append(hex, i, i + 4).append(i % 32 == 28 ? "\n" : " ");
      }
      text.append(checkDigits(c)).append('\n');
      Arrays.fill(c, (byte) 0);
      byte[] bytes = text.toString().getBytes(StandardCharsets.US_ASCII);
      text.setLength(0);
      try {
        Path dir = out.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Files.write(Files.createFile(out, PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString("rw-------"))), bytes);
      } catch (FileAlreadyExistsException e) {
        throw new CliException(ExitCodes.FAILURE, out + " exists; refusing to overwrite it");
      } catch (IOException e) {
        throw new CliException(ExitCodes.FAILURE, "cannot write " + out + ": " + e.getMessage());
      } finally {
        Arrays.fill(bytes, (byte) 0);
      }
      ctx.out().println("component written to " + out + " (mode 0600): kcv " + kcv);
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }

  /** The SO PIN: KMS_HSM_SO_PIN, else {@code file}, else so.pin next to hsm.pinFile; or null. */
  static char[] soPin(CliContext ctx, ApiConfig cfg, Path file) throws CliException {
    String env = ctx.env().get("KMS_HSM_SO_PIN");
    if (env != null && !env.isEmpty()) {
      return env.toCharArray();
    }
    String pinFile = cfg.hsm().pinFile();
    if (file == null && (pinFile == null || pinFile.isBlank())) {
      return null;
    }
    Path f = file != null ? file
        : Path.of(pinFile).toAbsolutePath().getParent().resolve("so.pin");
    if (!Files.isRegularFile(f)) {
      if (file != null) {
        throw new CliException(ExitCodes.PREREQUISITE, "SO PIN file not found: " + f);
      }
      return null;
    }
    try {
      return HsmConfig.readPinFile(f);
    } catch (IOException e) {
      throw new CliException(ExitCodes.PREREQUISITE, "cannot read the SO PIN file " + f);
    }
  }
}
