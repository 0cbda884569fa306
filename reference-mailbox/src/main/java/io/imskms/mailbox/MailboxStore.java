package io.imskms.mailbox;

import io.imskms.files.OwnerOnlyFiles;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The mailbox's deferred messages on disk, one directory per message under the store's root:
 *
 * <pre>
 * &lt;root&gt;/&lt;messageId&gt;/meta.json    from, to, mailbox, stored (no secret)
 *                    offer.bin    UE-A's offer, verbatim (Figure 17 step 3)
 *                    ticket.bin   Ekms(Ka) from the KMS (Figure 17 step 6)
 *                    media.imsm   the media container under K, once uploaded (Figure 19)
 * </pre>
 *
 * Nothing here lets the mailbox compute K: the offer's Ea and the ticket are both under keys it
 * does not hold. Files are written to a temporary name and moved into place; directories are
 * owner-only. Message ids are 32 lower-case hex digits, checked before any path is built.
 */
public final class MailboxStore {
  private static final Pattern ID = Pattern.compile("[0-9a-f]{32}");
  private static final SecureRandom RANDOM = new SecureRandom();

  /** One stored message (without its media). */
  public record Message(String messageId, String from, String to, String mailbox, Instant stored,
      byte[] offer, byte[] ticket, boolean hasMedia) {}

  private final Path root;

  public MailboxStore(Path root) throws IOException {
    this.root = root.toAbsolutePath();
    createOwnerOnlyDirectories(this.root);
  }

  public Path root() {
    return root;
  }

  /** Stores a new message's offer and ticket; returns its id. */
  public String create(String from, String to, String mailbox, byte[] offer, byte[] ticket)
      throws IOException {
    byte[] raw = new byte[16];
    RANDOM.nextBytes(raw);
    String id = HexFormat.of().formatHex(raw);
    Path dir = root.resolve(id);
    createOwnerOnlyDirectories(dir);
    OwnerOnlyFiles.write(dir.resolve("offer.bin"), offer);
    OwnerOnlyFiles.write(dir.resolve("ticket.bin"), ticket);
    JsonObject meta = new JsonObject().put("from", from).put("to", to).put("mailbox", mailbox)
        .put("stored", Instant.now().toString());
    OwnerOnlyFiles.write(dir.resolve("meta.json"),
        meta.encodePrettily().getBytes(StandardCharsets.UTF_8));
    return id;
  }

  /** Stores the media container of a message. */
  public void putMedia(String messageId, byte[] container) throws IOException {
    Path dir = dir(messageId).orElseThrow(() -> new IOException("no message " + messageId));
    OwnerOnlyFiles.write(dir.resolve("media.imsm"), container);
  }

  /** The message, if it exists. */
  public Optional<Message> get(String messageId) throws IOException {
    Optional<Path> dir = dir(messageId);
    if (dir.isEmpty() || !Files.isRegularFile(dir.get().resolve("meta.json"))) {
      return Optional.empty();
    }
    Path d = dir.get();
    JsonObject meta = new JsonObject(Files.readString(d.resolve("meta.json")));
    return Optional.of(new Message(messageId, meta.getString("from"), meta.getString("to"),
        meta.getString("mailbox"), Instant.parse(meta.getString("stored")),
        Files.readAllBytes(d.resolve("offer.bin")), Files.readAllBytes(d.resolve("ticket.bin")),
        Files.isRegularFile(d.resolve("media.imsm"))));
  }

  /** The media container of a message, if uploaded. */
  public Optional<byte[]> media(String messageId) throws IOException {
    Optional<Path> dir = dir(messageId);
    if (dir.isEmpty() || !Files.isRegularFile(dir.get().resolve("media.imsm"))) {
      return Optional.empty();
    }
    return Optional.of(Files.readAllBytes(dir.get().resolve("media.imsm")));
  }

  /** Every stored message for {@code user}, oldest first. */
  public List<Message> messagesFor(String user) throws IOException {
    List<Message> out = new ArrayList<>();
    try (Stream<Path> dirs = Files.list(root)) {
      for (Path d : (Iterable<Path>) dirs::iterator) {
        String id = d.getFileName().toString();
        if (!ID.matcher(id).matches()) {
          continue;
        }
        Optional<Message> m = get(id);
        if (m.isPresent() && m.get().to().equals(user)) {
          out.add(m.get());
        }
      }
    }
    out.sort((a, b) -> a.stored().compareTo(b.stored()));
    return out;
  }

  private Optional<Path> dir(String messageId) {
    if (messageId == null || !ID.matcher(messageId).matches()) {
      return Optional.empty();
    }
    Path d = root.resolve(messageId);
    return Files.isDirectory(d) ? Optional.of(d) : Optional.empty();
  }

  private static void createOwnerOnlyDirectories(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return;
    }
    Files.createDirectories(dir);
    try {
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    } catch (UnsupportedOperationException notPosix) {
      // Nothing to restrict on a file system without POSIX permissions.
    }
  }

}
