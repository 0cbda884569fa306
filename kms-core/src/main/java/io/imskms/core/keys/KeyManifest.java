package io.imskms.core.keys;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The record of the long-term keys made for this KMS: label, version, purpose, key check value
 * and creation time of each. {@link KeyRing#writeManifest(Path)} writes it whenever keys are
 * generated; a later start passes {@link #expectedKcvs()} to
 * {@code HsmConfig.Builder.expectedKcvs(...)}, so that the adapter refuses a token whose keys
 * carry the right labels but are not the keys that were made (a swapped or re-created token).
 *
 * <p>The file holds no secret (a key check value reveals nothing about the key); it is still
 * written with owner-only permissions, atomically (temporary file, then rename). Format:
 *
 * <pre>{@code
 * {
 *   "version": 1,
 *   "token": "ims-kms",
 *   "keys": [
 *     {"label": "kms-cred-root", "version": 1, "purpose": "CRED_ROOT",
 *      "kcv": "3f1c0a9be2d47781", "created": "2025-01-31T10:15:30Z"}
 *   ]
 * }
 * }</pre>
 *
 * <p>{@code created} is null for a key that was found in the token rather than made by the
 * {@link KeyRing} that wrote the manifest; {@code token} is informational.
 */
public final class KeyManifest {
  /** The only format version this class reads and writes. */
  public static final int FORMAT_VERSION = 1;

  private static final Pattern KCV = Pattern.compile("[0-9a-f]{16}");
  private static final Set<String> ROOT_FIELDS = Set.of("version", "token", "keys");
  private static final Set<String> ENTRY_FIELDS =
      Set.of("label", "version", "purpose", "kcv", "created");
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * One key version.
   *
   * @param purpose the key's purpose, which fixes its label
   * @param version the key's version, 1..9999
   * @param kcv its key check value, 16 lower-case hex digits
   * @param created when it was generated, if known
   */
  public record Entry(KeyPurpose purpose, int version, String kcv, Optional<Instant> created) {
    public Entry {
      Objects.requireNonNull(purpose, "purpose");
      Objects.requireNonNull(kcv, "kcv");
      Objects.requireNonNull(created, "created");
      if (version < 1 || version > 9999) {
        throw new IllegalArgumentException("key version must be 1..9999");
      }
      if (!KCV.matcher(kcv).matches()) {
        throw new IllegalArgumentException("a key check value is 16 lower-case hex digits");
      }
    }

    /** The token label without version. */
    public String label() {
      return purpose.label();
    }

    /** The full token label, {@code label#vN}, as used in {@link #expectedKcvs()}. */
    public String id() {
      return purpose.id(version);
    }
  }

  private final String token;
  private final List<Entry> entries;

  KeyManifest(String token, List<Entry> entries) {
    this.token = token;
    this.entries = List.copyOf(entries);
  }

  /** The entries, in file order. */
  public List<Entry> entries() {
    return entries;
  }

  /** The token label recorded when the manifest was written, if any (informational). */
  public Optional<String> token() {
    return Optional.ofNullable(token);
  }

  /**
   * The key check values by {@code label#vN}, the form {@code HsmConfig.Builder.expectedKcvs}
   * takes. Unmodifiable, in file order.
   */
  public Map<String, String> expectedKcvs() {
    Map<String, String> m = new LinkedHashMap<>();
    for (Entry e : entries) {
      m.put(e.id(), e.kcv());
    }
    return Collections.unmodifiableMap(m);
  }

  /**
   * Reads and validates a manifest.
   *
   * @throws NoSuchFileException if there is no such file
   * @throws KeyManifestException if the file is not a valid manifest (the message says where)
   * @throws IOException if it cannot be read
   */
  public static KeyManifest read(Path file) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(Files.readAllBytes(file));
    } catch (JsonProcessingException e) {
      throw new KeyManifestException("key manifest " + file + ", line "
          + e.getLocation().getLineNr() + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw bad(file, "$", "must be a JSON object with \"version\" and \"keys\"");
    }
    unknownFields(file, "$", root, ROOT_FIELDS);
    JsonNode v = root.get("version");
    if (v == null || !v.isInt() || v.intValue() != FORMAT_VERSION) {
      throw bad(file, "$.version", "must be " + FORMAT_VERSION);
    }
    JsonNode tokenNode = root.get("token");
    if (tokenNode != null && !tokenNode.isTextual() && !tokenNode.isNull()) {
      throw bad(file, "$.token", "must be a string");
    }
    JsonNode keys = root.get("keys");
    if (keys == null || !keys.isArray()) {
      throw bad(file, "$.keys", "must be an array");
    }
    List<Entry> entries = new ArrayList<>();
    Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < keys.size(); i++) {
      String path = "$.keys[" + i + "]";
      Entry e = entry(file, path, keys.get(i));
      if (!seen.add(e.id())) {
        throw bad(file, path, "key " + e.id() + " is listed twice");
      }
      entries.add(e);
    }
    return new KeyManifest(tokenNode == null || tokenNode.isNull() ? null : tokenNode.textValue(),
        entries);
  }

  private static Entry entry(Path file, String path, JsonNode n) throws KeyManifestException {
    if (!n.isObject()) {
      throw bad(file, path, "must be an object");
    }
    unknownFields(file, path, n, ENTRY_FIELDS);
    String label = text(file, path + ".label", n.get("label"));
    String purposeName = text(file, path + ".purpose", n.get("purpose"));
    KeyPurpose purpose;
    try {
      purpose = KeyPurpose.valueOf(purposeName);
    } catch (IllegalArgumentException e) {
      throw bad(file, path + ".purpose", "unknown purpose \"" + purposeName + "\"");
    }
    if (!purpose.label().equals(label)) {
      throw bad(file, path + ".label", "label \"" + label + "\" does not belong to purpose "
          + purpose + " (expected \"" + purpose.label() + "\")");
    }
    JsonNode version = n.get("version");
    if (version == null || !version.isInt() || version.intValue() < 1
        || version.intValue() > 9999) {
      throw bad(file, path + ".version", "must be an integer 1..9999");
    }
    String kcv = text(file, path + ".kcv", n.get("kcv"));
    if (!KCV.matcher(kcv).matches()) {
      throw bad(file, path + ".kcv", "must be 16 lower-case hex digits");
    }
    Optional<Instant> created = Optional.empty();
    JsonNode c = n.get("created");
    if (c != null && !c.isNull()) {
      try {
        created = Optional.of(Instant.parse(text(file, path + ".created", c)));
      } catch (DateTimeParseException e) {
        throw bad(file, path + ".created", "must be an ISO-8601 instant such as"
            + " 2025-01-31T10:15:30Z");
      }
    }
    return new Entry(purpose, version.intValue(), kcv, created);
  }

  private static String text(Path file, String path, JsonNode n) throws KeyManifestException {
    if (n == null || !n.isTextual()) {
      throw bad(file, path, "missing or not a string");
    }
    return n.textValue();
  }

  private static void unknownFields(Path file, String path, JsonNode n, Set<String> allowed)
      throws KeyManifestException {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!allowed.contains(f)) {
        throw bad(file, path + "." + f, "unknown field");
      }
    }
  }

  private static KeyManifestException bad(Path file, String path, String problem) {
    return new KeyManifestException("key manifest " + file + ", at " + path + ": " + problem);
  }

  /** Writes the manifest atomically, owner-only readable. */
  void write(Path file) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("version", FORMAT_VERSION);
    if (token != null) {
      root.put("token", token);
    }
    ArrayNode keys = root.putArray("keys");
    for (Entry e : entries) {
      ObjectNode k = keys.addObject();
      k.put("label", e.label());
      k.put("version", e.version());
      k.put("purpose", e.purpose().name());
      k.put("kcv", e.kcv());
      if (e.created().isPresent()) {
        k.put("created", e.created().get().toString());
      } else {
        k.putNull("created");
      }
    }
    byte[] bytes = JSON.writeValueAsBytes(root);
    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
    try {
      Files.write(tmp, bytes);
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE,
            StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
