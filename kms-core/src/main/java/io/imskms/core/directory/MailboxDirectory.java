package io.imskms.core.directory;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which mailbox serves which user: the deferred-delivery KMS hands a ticket for user B only to the
 * mailbox that serves B, and asks this directory which one that is.
 *
 * <p>The directory is read from a JSON file (format in docs/configuration.md):
 *
 * <pre>{@code
 * {
 *   "version": 1,
 *   "mailboxes": {
 *     "sip:vm.bob@ims.example.com": { "users": ["sip:bob@ims.example.com", "tel:+4930123456"] }
 *   }
 * }
 * }</pre>
 *
 * <p>Every identity, in the file and in every lookup, is compared after
 * {@link Identities#normalise(String)}. A file is refused as a whole, with a
 * {@link MailboxDirectoryException} naming the line, the field and the problem, when it is not
 * valid JSON, has an unknown or missing field or a format version other than 1, or when an
 * identity is empty or malformed, a mailbox or a user is listed twice, a user is served by two
 * mailboxes, or a mailbox is also listed as a user.
 *
 * <p>Security guarantees: lookups always see one complete, validated version of the file. A
 * reload either replaces the whole directory atomically or leaves it untouched; a half-written or
 * invalid file never becomes visible. Lookups never throw for malformed input: an identity that
 * cannot be normalised is simply unknown.
 *
 * <p>Thread-safe. Lookups are lock-free reads of an immutable snapshot; reloads are serialised.
 * Replace the file atomically (write a temporary file, then rename it over the old one) so that
 * {@link #reloadIfChanged()} never reads a half-written file; if it does, it reports the error and
 * tries again at the next change.
 */
public final class MailboxDirectory {
  /** The only format version this class reads. */
  public static final int FORMAT_VERSION = 1;

  /** Larger files are refused before they are read. */
  public static final long MAX_FILE_BYTES = 16L * 1024 * 1024;

  private static final Logger LOG = LoggerFactory.getLogger(MailboxDirectory.class);
  private static final JsonFactory JSON = JsonFactory.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .build();

  private final Path file;
  private final Object reloadLock = new Object();
  private volatile Snapshot snapshot;
  /** What the file looked like at the last reload attempt, good or bad; guarded by reloadLock. */
  private FileStamp lastAttempt;

  private MailboxDirectory(Path file, Snapshot snapshot) {
    this.file = file;
    this.snapshot = snapshot;
    this.lastAttempt = snapshot.stamp;
  }

  /**
   * Reads and validates the directory file.
   *
   * @throws MailboxDirectoryException if the file cannot be read or is not a valid directory
   */
  public static MailboxDirectory load(Path file) throws MailboxDirectoryException {
    Objects.requireNonNull(file, "file");
    MailboxDirectory d = new MailboxDirectory(file, read(file, stampOrFail(file)));
    LOG.info("mailbox directory {}: {} mailboxes, {} users", file, d.mailboxCount(),
        d.userCount());
    return d;
  }

  /**
   * The mailbox that serves {@code user}, in normalised form, or empty if the user is not in the
   * directory (or is not a valid identity).
   */
  public Optional<String> mailboxOf(String user) {
    String u = normaliseOrNull(user);
    return u == null ? Optional.empty() : Optional.ofNullable(snapshot.mailboxOfUser.get(u));
  }

  /** Whether {@code principal} is one of the directory's mailboxes. */
  public boolean isMailbox(String principal) {
    String p = normaliseOrNull(principal);
    return p != null && snapshot.mailboxes.contains(p);
  }

  /** Whether {@code user} is served by some mailbox of the directory. */
  public boolean isKnownUser(String user) {
    String u = normaliseOrNull(user);
    return u != null && snapshot.mailboxOfUser.containsKey(u);
  }

  /** The number of mailboxes in the current snapshot. */
  public int mailboxCount() {
    return snapshot.mailboxes.size();
  }

  /** The number of users in the current snapshot. */
  public int userCount() {
    return snapshot.mailboxOfUser.size();
  }

  /** The file this directory is read from. */
  public Path file() {
    return file;
  }

  /**
   * Reads the file again and, if it is valid, replaces the directory with its contents in one
   * step. If it is not, the directory keeps its previous contents and this throws.
   *
   * @throws MailboxDirectoryException if the file cannot be read or is not a valid directory
   */
  public void reload() throws MailboxDirectoryException {
    synchronized (reloadLock) {
      FileStamp stamp;
      try {
        stamp = stampOrFail(file);
      } catch (MailboxDirectoryException e) {
        lastAttempt = FileStamp.MISSING;
        throw e;
      }
      lastAttempt = stamp;
      install(read(file, stamp));
    }
  }

  /**
   * Reloads if the file's modification time, size or identity (inode) changed since the last
   * reload attempt; meant to be called periodically (every few seconds) by the server. A file
   * that is invalid is reported once, by throwing, and not again until it changes; meanwhile the
   * previous contents stay in force.
   *
   * @return whether the directory was replaced
   * @throws MailboxDirectoryException if the changed file cannot be read or is not valid
   */
  public boolean reloadIfChanged() throws MailboxDirectoryException {
    synchronized (reloadLock) {
      FileStamp stamp;
      try {
        stamp = FileStamp.of(file);
      } catch (IOException e) {
        throw new MailboxDirectoryException(file, -1, -1, null,
            "cannot read the file's attributes: " + e, e);
      }
      if (stamp.equals(lastAttempt)) {
        return false;
      }
      lastAttempt = stamp;
      if (stamp == FileStamp.MISSING) {
        throw new MailboxDirectoryException(file, -1, -1, null,
            "the file has disappeared; keeping the previous directory", null);
      }
      install(read(file, stamp));
      return true;
    }
  }

  private void install(Snapshot s) {
    snapshot = s;
    LOG.info("mailbox directory {} reloaded: {} mailboxes, {} users", file, s.mailboxes.size(),
        s.mailboxOfUser.size());
  }

  private static String normaliseOrNull(String identity) {
    if (identity == null) {
      return null;
    }
    try {
      return Identities.normalise(identity);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  // ------------------------------------------------------------------ reading and validation

  private static FileStamp stampOrFail(Path file) throws MailboxDirectoryException {
    try {
      FileStamp s = FileStamp.of(file);
      if (s == FileStamp.MISSING) {
        throw new MailboxDirectoryException(file, -1, -1, null, "the file does not exist", null);
      }
      return s;
    } catch (IOException e) {
      throw new MailboxDirectoryException(file, -1, -1, null, "cannot read the file: " + e, e);
    }
  }

  private static Snapshot read(Path file, FileStamp stamp) throws MailboxDirectoryException {
    if (stamp.size > MAX_FILE_BYTES) {
      throw new MailboxDirectoryException(file, -1, -1, null, "the file is larger than "
          + MAX_FILE_BYTES + " bytes", null);
    }
    byte[] content;
    try {
      content = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new MailboxDirectoryException(file, -1, -1, null, "cannot read the file: " + e, e);
    }
    if (content.length > MAX_FILE_BYTES) {
      throw new MailboxDirectoryException(file, -1, -1, null, "the file is larger than "
          + MAX_FILE_BYTES + " bytes", null);
    }
    return new Parser(file).parse(content, stamp);
  }

  /** One pass over the JSON tokens, so that every problem can be reported with its line. */
  private static final class Parser {
    private final Path file;
    private final Map<String, String> mailboxOfUser = new HashMap<>();
    private final Map<String, String> userField = new HashMap<>();
    private final Map<String, JsonLocation> userLocation = new HashMap<>();
    private final Set<String> mailboxes = new LinkedHashSet<>();

    Parser(Path file) {
      this.file = file;
    }

    Snapshot parse(byte[] content, FileStamp stamp) throws MailboxDirectoryException {
      try {
        // The version decides how the rest is read, so check it first wherever it stands.
        checkVersion(content);
        try (JsonParser p = JSON.createParser(content)) {
          p.nextToken();
          boolean sawMailboxes = false;
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            p.nextToken();
            if (name.equals("mailboxes")) {
              parseMailboxes(p);
              sawMailboxes = true;
            } else {
              p.skipChildren();
            }
          }
          if (!sawMailboxes) {
            throw fail(null, "$", "missing field \"mailboxes\"");
          }
        }
      } catch (JsonProcessingException e) {
        throw new MailboxDirectoryException(file, line(e.getLocation()),
            column(e.getLocation()), null, "not valid JSON: " + e.getOriginalMessage(), null);
      } catch (IOException e) {
        throw new MailboxDirectoryException(file, -1, -1, null, "cannot parse: " + e, e);
      }
      for (String m : mailboxes) {
        String servedBy = mailboxOfUser.get(m);
        if (servedBy != null) {
          throw fail(userLocation.get(m), userField.get(m), "mailbox " + m
              + " is also listed as a user (of mailbox " + servedBy + "); a mailbox cannot be a"
              + " user");
        }
      }
      return new Snapshot(Map.copyOf(mailboxOfUser), Set.copyOf(mailboxes), stamp);
    }

    private void checkVersion(byte[] content) throws IOException, MailboxDirectoryException {
      try (JsonParser p = JSON.createParser(content)) {
        if (p.nextToken() != JsonToken.START_OBJECT) {
          throw fail(p.currentTokenLocation(), "$",
              "the file must hold one JSON object with \"version\" and \"mailboxes\"");
        }
        boolean sawVersion = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String name = p.currentName();
          JsonLocation at = p.currentTokenLocation();
          JsonToken value = p.nextToken();
          switch (name) {
            case "version":
              if (value != JsonToken.VALUE_NUMBER_INT
                  || p.getNumberType() != JsonParser.NumberType.INT) {
                throw fail(p.currentTokenLocation(), "$.version",
                    "must be the integer " + FORMAT_VERSION);
              }
              if (p.getIntValue() != FORMAT_VERSION) {
                throw fail(p.currentTokenLocation(), "$.version", "unsupported format version "
                    + p.getIntValue() + "; this KMS reads version " + FORMAT_VERSION);
              }
              sawVersion = true;
              break;
            case "mailboxes":
              p.skipChildren();
              break;
            default:
              throw fail(at, "$." + name, "unknown field \"" + name
                  + "\" (a directory has \"version\" and \"mailboxes\")");
          }
        }
        if (p.nextToken() != null) {
          throw fail(p.currentTokenLocation(), null, "unexpected content after the JSON object");
        }
        if (!sawVersion) {
          throw fail(null, "$", "missing field \"version\"");
        }
      }
    }

    private void parseMailboxes(JsonParser p) throws IOException, MailboxDirectoryException {
      if (p.currentToken() != JsonToken.START_OBJECT) {
        throw fail(p.currentTokenLocation(), "$.mailboxes",
            "must be an object mapping each mailbox identity to {\"users\": [...]}");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String raw = p.currentName();
        JsonLocation at = p.currentTokenLocation();
        String path = "$.mailboxes[" + quote(raw) + "]";
        String mailbox = identity(raw, at, path, "mailbox");
        if (!mailboxes.add(mailbox)) {
          throw fail(at, path, "mailbox " + mailbox + " is listed twice (identities are compared"
              + " after normalisation)");
        }
        if (p.nextToken() != JsonToken.START_OBJECT) {
          throw fail(p.currentTokenLocation(), path, "must be an object {\"users\": [...]}");
        }
        boolean sawUsers = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String field = p.currentName();
          if (!field.equals("users")) {
            throw fail(p.currentTokenLocation(), path + "." + field, "unknown field \"" + field
                + "\" (a mailbox has only \"users\")");
          }
          parseUsers(p, mailbox, path + ".users");
          sawUsers = true;
        }
        if (!sawUsers) {
          throw fail(at, path, "missing field \"users\"");
        }
      }
    }

    private void parseUsers(JsonParser p, String mailbox, String path)
        throws IOException, MailboxDirectoryException {
      if (p.nextToken() != JsonToken.START_ARRAY) {
        throw fail(p.currentTokenLocation(), path, "must be an array of user identities");
      }
      int i = 0;
      for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken(), i++) {
        String userPath = path + "[" + i + "]";
        JsonLocation at = p.currentTokenLocation();
        if (t != JsonToken.VALUE_STRING) {
          throw fail(at, userPath, "must be a string (a user identity)");
        }
        String user = identity(p.getText(), at, userPath, "user");
        String previous = mailboxOfUser.putIfAbsent(user, mailbox);
        if (previous != null) {
          JsonLocation first = userLocation.get(user);
          if (previous.equals(mailbox)) {
            throw fail(at, userPath, "user " + user + " is listed twice in this mailbox (first at"
                + " line " + line(first) + "; identities are compared after normalisation)");
          }
          throw fail(at, userPath, "user " + user + " is already served by mailbox " + previous
              + " (line " + line(first) + "); a user is served by exactly one mailbox");
        }
        userLocation.put(user, at);
        userField.put(user, userPath);
      }
    }

    private String identity(String raw, JsonLocation at, String path, String what)
        throws MailboxDirectoryException {
      try {
        return Identities.normalise(raw);
      } catch (IllegalArgumentException e) {
        throw fail(at, path, what + " identity: " + e.getMessage());
      }
    }

    private MailboxDirectoryException fail(JsonLocation at, String path, String problem) {
      return new MailboxDirectoryException(file, line(at), column(at), path, problem, null);
    }

    private static int line(JsonLocation at) {
      return at == null ? -1 : at.getLineNr();
    }

    private static int column(JsonLocation at) {
      return at == null ? -1 : at.getColumnNr();
    }

    private static String quote(String s) {
      return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
  }

  /** One immutable, validated version of the directory. */
  private static final class Snapshot {
    final Map<String, String> mailboxOfUser;
    final Set<String> mailboxes;
    final FileStamp stamp;

    Snapshot(Map<String, String> mailboxOfUser, Set<String> mailboxes, FileStamp stamp) {
      this.mailboxOfUser = mailboxOfUser;
      this.mailboxes = mailboxes;
      this.stamp = stamp;
    }
  }

  /** What identifies one version of the file without reading it. */
  private static final class FileStamp {
    static final FileStamp MISSING = new FileStamp(null, -1, null);

    final FileTime modified;
    final long size;
    final Object fileKey;

    private FileStamp(FileTime modified, long size, Object fileKey) {
      this.modified = modified;
      this.size = size;
      this.fileKey = fileKey;
    }

    static FileStamp of(Path file) throws IOException {
      try {
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        return new FileStamp(a.lastModifiedTime(), a.size(), a.fileKey());
      } catch (NoSuchFileException e) {
        return MISSING;
      }
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof FileStamp
          && Objects.equals(((FileStamp) o).modified, modified)
          && ((FileStamp) o).size == size
          && Objects.equals(((FileStamp) o).fileKey, fileKey);
    }

    @Override
    public int hashCode() {
      return Objects.hash(modified, size, fileKey);
    }
  }
}
