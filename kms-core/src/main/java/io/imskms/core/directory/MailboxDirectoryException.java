package io.imskms.core.directory;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The mailbox directory file could not be read or is not valid. The message names the file, the
 * position (line and column, when the problem has one), the field as a JSON path such as
 * {@code $.mailboxes["sip:vm.bob@ims.example.com"].users[1]}, and what is wrong. When this is
 * thrown by {@link MailboxDirectory#reload()} the directory keeps serving its previous contents.
 */
public final class MailboxDirectoryException extends Exception {
  private final Path file;
  private final int line;
  private final int column;
  private final String field;
  private final String problem;

  MailboxDirectoryException(Path file, int line, int column, String field, String problem,
      Throwable cause) {
    super(format(file, line, column, field, problem), cause);
    this.file = file;
    this.line = line;
    this.column = column;
    this.field = field;
    this.problem = problem;
  }

  private static String format(Path file, int line, int column, String field, String problem) {
    StringBuilder b = new StringBuilder("mailbox directory ").append(file);
    if (line > 0) {
      b.append(", line ").append(line);
      if (column > 0) {
        b.append(", column ").append(column);
      }
    }
    if (field != null) {
      b.append(", at ").append(field);
    }
    return b.append(": ").append(problem).toString();
  }

  /** The directory file. */
  public Path file() {
    return file;
  }

  /** The 1-based line of the problem, or -1 when it has none (e.g. the file is missing). */
  public int line() {
    return line;
  }

  /** The 1-based column of the problem, or -1 when unknown. */
  public int column() {
    return column;
  }

  /** The JSON path of the offending field, if the problem is tied to one. */
  public Optional<String> field() {
    return Optional.ofNullable(field);
  }

  /** What is wrong, without the position. */
  public String problem() {
    return problem;
  }
}
