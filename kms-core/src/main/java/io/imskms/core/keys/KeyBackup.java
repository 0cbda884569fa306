package io.imskms.core.keys;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.core.records.MacedRecordStore;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.KeyCeremony;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Backup and restore of the long-term keys under dual control: the file format and the steps of
 * {@code kms keys export} and {@code kms keys import} (docs/architecture.md, "Backup and restore
 * under dual control"). Key material only ever exists wrapped (RFC 5649) under the ceremony's KEK,
 * which lives in the HSM ({@link KeyCeremony}).
 *
 * <p>File: a header line {@value #HEADER}, a JSON body, and a last line {@code MAC <64 hex>} =
 * HMAC-SHA-256 under the ceremony's file-MAC key (in the HSM) of {@value #MAC_CONTEXT_TEXT} ‖
 * every byte before that line. The body's component and KEK check values are read before the MAC
 * can be checked, only to tell a wrong component from a modified file; nothing else is used before
 * the MAC verifies.
 *
 * <p>Security guarantees: the file never holds a key in clear; a file changed in any byte is
 * refused ({@link HsmIntegrityException}); an import changes nothing in the token until every
 * check passed: MAC, every key's trial unwrap and KCV, and no different key under a label the file
 * names.
 */
public final class KeyBackup {
  /** The first line of every backup file. */
  public static final String HEADER = "IMSKMS-KEY-BACKUP 1";
  static final String MAC_CONTEXT_TEXT = "imskms/v1/backup-file";
  private static final byte[] MAC_CONTEXT = MAC_CONTEXT_TEXT.getBytes(StandardCharsets.US_ASCII);
  private static final String MAC_PREFIX = "MAC ";
  private static final Pattern KCV = Pattern.compile("[0-9a-f]{16}");
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .enable(SerializationFeature.INDENT_OUTPUT);

  private KeyBackup() {}

  /**
   * The token's other MACed records that belong with its keys: the record of revoked and
   * re-enrolled principals (per-identity generations bound into every credential). Without it a
   * restored token would accept revoked devices and old credentials again. Each is carried as
   * its verified document and re-MACed in the target token under the target's own MAC key.
   * (The key lifecycle record is carried separately: its versions are merged.)
   */
  static final List<String[]> RECORDS = List.<String[]>of(
      // object label, MAC key label, MAC context
      new String[] {PrincipalRegistry.OBJECT_LABEL, PrincipalRegistry.MAC_LABEL,
          PrincipalRegistry.MAC_CONTEXT});

  private static MacedRecordStore<byte[]> rawStore(Hsm hsm, String[] r) {
    return new MacedRecordStore<>(hsm, r[0], r[1], r[2], new MacedRecordStore.Codec<>() {
      @Override
      public byte[] decode(byte[] bytes) throws IOException {
        JsonNode n = JSON.readTree(bytes);
        if (n == null || !n.path("sequence").canConvertToLong()) {
          throw new IOException("record without a sequence number");
        }
        return bytes.clone();
      }

      @Override
      public byte[] encode(byte[] doc) {
        return doc.clone();
      }

      @Override
      public long sequence(byte[] doc) {
        try {
          return doc.length == 0 ? 0 : JSON.readTree(doc).path("sequence").asLong();
        } catch (IOException e) {
          return 0;
        }
      }
    }, new byte[0]);
  }

  /**
   * One key in a backup file.
   *
   * @param state its state in the source token when exported (informational; the lifecycle record
   *     is what the import writes)
   */
  public record Key(KeyPurpose purpose, int version, KeyState state, String kcv, byte[] wrapped) {
    public Key {
      Objects.requireNonNull(purpose, "purpose");
      Objects.requireNonNull(state, "state");
      wrapped = wrapped.clone();
    }

    @Override
    public byte[] wrapped() {
      return wrapped.clone();
    }

    public String id() {
      return purpose.id(version);
    }

    @Override
    public String toString() {
      return id() + " " + state.cliName() + " kcv " + kcv;
    }
  }

  /** A long-term key left out of the file, and why. */
  public record Omitted(String id, KeyState state, String reason) {}

  /**
   * A parsed backup file. Until {@link #verify} passed, only {@link #components()},
   * {@link #componentKcvs()} and {@link #kekKcv()} may be used, and only to diagnose.
   */
  public static final class File {
    private final byte[] signed;
    private final byte[] tag;
    private final JsonNode body;

    private File(byte[] signed, byte[] tag, JsonNode body) {
      this.signed = signed;
      this.tag = tag;
      this.body = body;
    }

    public int components() {
      return body.path("components").asInt(0);
    }

    public List<String> componentKcvs() {
      List<String> out = new ArrayList<>();
      body.path("componentKcvs").forEach(n -> out.add(n.asText()));
      return out;
    }

    public String kekKcv() {
      return body.path("kekKcv").asText("");
    }

    public String sourceToken() {
      return body.path("sourceToken").asText("");
    }

    public String created() {
      return body.path("created").asText("");
    }
  }

  /** What an export wrote. */
  public record Exported(List<Key> keys, List<Omitted> omitted, byte[] bytes) {
    public Exported {
      keys = List.copyOf(keys);
      omitted = List.copyOf(omitted);
      bytes = bytes.clone();
    }

    @Override
    public byte[] bytes() {
      return bytes.clone();
    }
  }

  /**
   * Exports every version of every purpose in the token under the assembled export ceremony.
   * A retired version that is not backup-capable is left out (and listed); any other version that
   * cannot be exported fails the whole export with the ceremony's reason.
   *
   * @param componentKcvs the check values of the components as they were entered, in order
   * @param kekKcv the ceremony's check value ({@link KeyCeremony#assemble()})
   * @throws HsmPolicyException if a key that is still in use cannot be exported
   */
  public static Exported export(Hsm hsm, KeyCeremony ceremony, String sourceToken,
      List<String> componentKcvs, String kekKcv) throws HsmException {
    KeyRing ring = KeyRing.load(hsm);
    KeyLifecycle lifecycle = new KeyLifecycleStore(hsm).read();
    List<Key> keys = new ArrayList<>();
    List<Omitted> omitted = new ArrayList<>();
    List<String> refused = new ArrayList<>();
    for (KeyVersionInfo v : ring.describe()) {
      if (!v.key().backupCapable() && v.state() == KeyState.RETIRED) {
        omitted.add(new Omitted(v.purpose().id(v.version()), v.state(), "retired and never"
            + " extractable (CKA_EXTRACTABLE=false)"));
        continue;
      }
      try {
        KeyCeremony.ExportedKey e = ceremony.exportLongTermKey(v.label(), v.version());
        if (!e.kcv().equals(v.kcv()) || !e.spec().equals(v.purpose().spec())) {
          throw new HsmIntegrityException(v.purpose().id(v.version()) + " changed during the"
              + " export (kcv " + e.kcv() + ", was " + v.kcv() + ")");
        }
        keys.add(new Key(v.purpose(), v.version(), v.state(), e.kcv(), e.wrapped()));
      } catch (HsmPolicyException e) {
        refused.add(e.getMessage());
      }
    }
    if (!refused.isEmpty()) {
      throw new HsmPolicyException("nothing exported: " + String.join("; ", refused)
          + ". Set core.keyBackup: true, rotate every purpose (kms keys rotate), and export"
          + " once the older versions are retired");
    }
    ObjectNode body = JSON.createObjectNode();
    body.put("format", "imskms-key-backup");
    body.put("version", 1);
    body.put("created", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    body.put("sourceToken", sourceToken);
    body.put("components", componentKcvs.size());
    ArrayNode ck = body.putArray("componentKcvs");
    componentKcvs.forEach(ck::add);
    body.put("kekKcv", kekKcv);
    body.put("wrapping", "CKM_AES_KEY_WRAP_PAD (RFC 5649)");
    body.put("lifecycle", new String(lifecycle.encode(), StandardCharsets.UTF_8));
    ObjectNode records = body.putObject("records");
    for (String[] r : RECORDS) {
      byte[] doc = rawStore(hsm, r).read();
      if (doc.length > 0) {
        records.put(r[0], new String(doc, StandardCharsets.UTF_8));
      }
    }
    ArrayNode ks = body.putArray("keys");
    for (KeyVersionInfo v : ring.describe()) {
      for (Key k : keys) {
        if (k.purpose() == v.purpose() && k.version() == v.version()) {
          ObjectNode n = ks.addObject();
          n.put("label", k.purpose().label());
          n.put("version", k.version());
          n.put("purpose", k.purpose().name());
          n.put("state", k.state().cliName());
          n.put("created", v.created().map(Instant::toString).orElse(null));
          n.put("activated", v.activated().map(Instant::toString).orElse(null));
          n.put("retired", v.retired().map(Instant::toString).orElse(null));
          n.put("kcv", k.kcv());
          n.put("wrapped", Base64.getEncoder().encodeToString(k.wrapped));
        }
      }
    }
    ArrayNode om = body.putArray("notExported");
    for (Omitted o : omitted) {
      om.addObject().put("id", o.id()).put("state", o.state().cliName())
          .put("reason", o.reason());
    }
    byte[] signed;
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      out.write((HEADER + "\n").getBytes(StandardCharsets.US_ASCII));
      out.write(JSON.writeValueAsBytes(body));
      out.write('\n');
      signed = out.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode the backup", e);
    }
    byte[] tag = ceremony.mac(macInput(signed));
    byte[] file = new byte[signed.length + MAC_PREFIX.length() + 64 + 1];
    System.arraycopy(signed, 0, file, 0, signed.length);
    byte[] trailer = (MAC_PREFIX + HexFormat.of().formatHex(tag) + "\n")
        .getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(trailer, 0, file, signed.length, trailer.length);
    return new Exported(keys, omitted, file);
  }

  private static byte[] macInput(byte[] signed) {
    byte[] in = new byte[MAC_CONTEXT.length + signed.length];
    System.arraycopy(MAC_CONTEXT, 0, in, 0, MAC_CONTEXT.length);
    System.arraycopy(signed, 0, in, MAC_CONTEXT.length, signed.length);
    return in;
  }

  /**
   * Writes a backup file with owner-only permissions (0600), atomically; refuses to overwrite an
   * existing file.
   */
  public static void write(Path file, byte[] bytes) throws IOException {
    if (Files.exists(file)) {
      throw new FileAlreadyExistsException(file.toString(), null, "refusing to overwrite");
    }
    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    try {
      Files.write(tmp, bytes);
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * Splits a backup file into its signed part, tag and body. Checks the form only; the content is
   * not trusted until {@link #verify}.
   *
   * @throws HsmIntegrityException if it is not a backup file of this format (or was truncated)
   */
  public static File parse(byte[] bytes) throws HsmIntegrityException {
    String text = new String(bytes, StandardCharsets.US_ASCII);
    if (!text.startsWith(HEADER + "\n")) {
      throw new HsmIntegrityException("not a key backup file (the first line must be '" + HEADER
          + "')");
    }
    int macLine = text.lastIndexOf("\n" + MAC_PREFIX);
    if (macLine < 0 || !text.endsWith("\n")) {
      throw new HsmIntegrityException("the key backup file has no MAC line: truncated?");
    }
    String hex = text.substring(macLine + 1 + MAC_PREFIX.length(), text.length() - 1);
    if (!hex.matches("[0-9a-f]{64}")) {
      throw new HsmIntegrityException("the key backup file's MAC line is malformed");
    }
    byte[] signed = java.util.Arrays.copyOf(bytes, macLine + 1);
    JsonNode body;
    try {
      body = JSON.readTree(java.util.Arrays.copyOfRange(bytes, HEADER.length() + 1, macLine + 1));
    } catch (IOException e) {
      throw new HsmIntegrityException("the key backup file's body is not valid JSON: modified?");
    }
    if (body == null || !body.isObject() || !"imskms-key-backup".equals(
        body.path("format").asText()) || body.path("version").asInt() != 1) {
      throw new HsmIntegrityException("the key backup file's body is not of format"
          + " imskms-key-backup version 1");
    }
    return new File(signed, HexFormat.of().parseHex(hex), body);
  }

  /**
   * Checks the file's MAC under the import ceremony's assembled KEK.
   *
   * @throws HsmIntegrityException if the file was modified (or made under another KEK)
   */
  public static void verify(File file, KeyCeremony ceremony) throws HsmException {
    try {
      ceremony.verifyMac(macInput(file.signed), file.tag);
    } catch (HsmIntegrityException e) {
      throw new HsmIntegrityException("the key backup file was modified: its MAC does not verify"
          + " under the KEK of these components (whose check value matches the file's)");
    }
  }

  /** What an import will do; made by {@link #plan}, nothing in the token changed yet. */
  public static final class Plan {
    private final List<Key> restore;
    private final List<Key> present;
    private final KeyLifecycle lifecycle;
    private final Map<String, String> kcvs;
    private final Map<String, byte[]> records;

    private Plan(List<Key> restore, List<Key> present, KeyLifecycle lifecycle,
        Map<String, String> kcvs, Map<String, byte[]> records) {
      this.restore = List.copyOf(restore);
      this.present = List.copyOf(present);
      this.lifecycle = lifecycle;
      this.kcvs = Map.copyOf(kcvs);
      this.records = Map.copyOf(records);
    }

    /** The token records the file carries (e.g. {@code kms-principals}), by object label. */
    public java.util.Set<String> records() {
      return records.keySet();
    }

    /** Keys to unwrap into the token. */
    public List<Key> toRestore() {
      return restore;
    }

    /** Keys the token already holds, the same (same KCV): skipped. */
    public List<Key> alreadyPresent() {
      return present;
    }

    /** Every key of the file by {@code label#vN}, with its (authenticated) check value. */
    public Map<String, String> kcvs() {
      return kcvs;
    }
  }

  /**
   * After {@link #verify}: reads the keys, unwraps each one into a throw-away session key to check
   * its KCV against the file, and compares each label with the token's key under it.
   *
   * @throws HsmIntegrityException if a key does not unwrap or has another KCV than the file says
   * @throws HsmPolicyException if the token holds a different key under a label of the file (every
   *     such label is named); nothing was changed
   */
  public static Plan plan(File file, KeyCeremony ceremony) throws HsmException {
    List<Key> keys = keys(file.body);
    List<Key> restore = new ArrayList<>();
    List<Key> present = new ArrayList<>();
    List<String> conflicts = new ArrayList<>();
    Map<String, String> kcvs = new LinkedHashMap<>();
    for (Key k : keys) {
      String kcv;
      try {
        kcv = ceremony.trialUnwrap(k.purpose().spec(), k.wrapped);
      } catch (HsmIntegrityException e) {
        throw new HsmIntegrityException(k.id() + " in the backup file does not unwrap under this"
            + " KEK");
      }
      if (!kcv.equals(k.kcv())) {
        throw new HsmIntegrityException(k.id() + " unwraps to a key with check value " + kcv
            + ", but the file records " + k.kcv());
      }
      kcvs.put(k.id(), kcv);
      Optional<String> there = ceremony.tokenKeyKcv(k.purpose().label(), k.version());
      if (there.isEmpty()) {
        restore.add(k);
      } else if (there.get().equals(kcv)) {
        present.add(k);
      } else {
        conflicts.add(k.id() + " (token kcv " + there.get() + ", file kcv " + kcv + ")");
      }
    }
    if (!conflicts.isEmpty()) {
      throw new HsmPolicyException("the token already holds different keys under labels of the"
          + " backup: " + String.join(", ", conflicts) + "; nothing imported (restore into an"
          + " empty token)");
    }
    KeyLifecycle lifecycle;
    try {
      lifecycle = KeyLifecycle.decode(file.body.path("lifecycle").asText("")
          .getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new HsmIntegrityException("the backup's lifecycle record does not parse: "
          + e.getMessage());
    }
    Map<String, byte[]> records = new LinkedHashMap<>();
    JsonNode rs = file.body.path("records");
    for (String[] r : RECORDS) {
      if (rs.hasNonNull(r[0])) {
        records.put(r[0], rs.get(r[0]).asText().getBytes(StandardCharsets.UTF_8));
      }
    }
    return new Plan(restore, present, lifecycle, kcvs, records);
  }

  private static List<Key> keys(JsonNode body) throws HsmIntegrityException {
    List<Key> out = new ArrayList<>();
    JsonNode keys = body.path("keys");
    if (!keys.isArray() || keys.isEmpty()) {
      throw new HsmIntegrityException("the backup file holds no keys");
    }
    for (JsonNode n : keys) {
      KeyPurpose p;
      try {
        p = KeyPurpose.valueOf(n.path("purpose").asText());
      } catch (IllegalArgumentException e) {
        throw new HsmIntegrityException("unknown purpose in the backup file: "
            + n.path("purpose").asText());
      }
      int version = n.path("version").asInt(0);
      String kcv = n.path("kcv").asText("");
      KeyState state = KeyState.ofCliName(n.path("state").asText()).orElseThrow(() ->
          new HsmIntegrityException("unknown state in the backup file"));
      if (!p.label().equals(n.path("label").asText()) || version < 1 || version > 9999
          || !KCV.matcher(kcv).matches()) {
        throw new HsmIntegrityException("malformed key entry in the backup file");
      }
      byte[] wrapped;
      try {
        wrapped = Base64.getDecoder().decode(n.path("wrapped").asText(""));
      } catch (IllegalArgumentException e) {
        throw new HsmIntegrityException("malformed wrapped key in the backup file");
      }
      out.add(new Key(p, version, state, kcv, wrapped));
    }
    return out;
  }

  /**
   * Unwraps every key of {@code plan} into the token (never extractable, or with
   * {@code backupCapable} extractable only under a trusted key), each checked against its KCV.
   * The caller then admits them to its adapter and calls {@link #writeLifecycle}.
   */
  public static void restore(Plan plan, KeyCeremony ceremony, boolean backupCapable)
      throws HsmException {
    for (Key k : plan.restore) {
      ceremony.restoreLongTermKey(k.purpose().label(), k.version(), k.purpose().spec(),
          k.wrapped, k.kcv(), backupCapable);
    }
  }

  /**
   * Writes the backup's lifecycle record into the token (for the versions in the file), with a
   * sequence number above the token's own, so that every node reads the states of the file.
   */
  public static void writeLifecycle(Hsm hsm, Plan plan) throws HsmException {
    KeyLifecycleStore store = new KeyLifecycleStore(hsm);
    KeyLifecycle current = store.read();
    Map<String, KeyLifecycle.Entry> merged = new TreeMap<>(current.entries());
    for (KeyLifecycle.Entry e : plan.lifecycle.entries().values()) {
      if (plan.kcvs.containsKey(e.purpose().id(e.version()))) {
        merged.put(e.purpose().id(e.version()), e);
      }
    }
    store.write(new KeyLifecycle(Math.max(current.sequence(), plan.lifecycle.sequence()) + 1,
        merged.values()));
  }

  /**
   * Writes the file's other token records (revoked principals, ...) into the token, each under
   * the target's own MAC key, unless the token already holds that record at the same or a later
   * sequence (then the token's is kept: it is the newer knowledge).
   *
   * @return one line per record: written, or kept and why
   */
  public static List<String> writeRecords(Hsm hsm, Plan plan) throws HsmException {
    List<String> out = new ArrayList<>();
    for (String[] r : RECORDS) {
      byte[] doc = plan.records.get(r[0]);
      if (doc == null) {
        continue;
      }
      MacedRecordStore<byte[]> store = rawStore(hsm, r);
      byte[] there = store.read();
      long fileSeq = sequenceOf(doc);
      long tokenSeq = there.length == 0 ? 0 : sequenceOf(there);
      if (there.length > 0 && tokenSeq >= fileSeq) {
        out.add(r[0] + ": the token's record (sequence " + tokenSeq + ") kept; the file's is"
            + " sequence " + fileSeq);
        continue;
      }
      store.write(doc);
      out.add(r[0] + ": written (sequence " + fileSeq + ")");
    }
    return out;
  }

  private static long sequenceOf(byte[] doc) throws HsmIntegrityException {
    try {
      JsonNode n = JSON.readTree(doc);
      if (n == null || !n.path("sequence").canConvertToLong()) {
        throw new HsmIntegrityException("a token record in the backup has no sequence number");
      }
      return n.path("sequence").asLong();
    } catch (IOException e) {
      throw new HsmIntegrityException("a token record in the backup does not parse");
    }
  }
}
