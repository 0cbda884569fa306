package io.imskms.core.directory;

import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import java.util.Objects;

/**
 * The mailbox directory's view of identity normalisation. There is one set of rules, the
 * protocol's ({@link Identity#normalise}, docs/protocol.md section 2): a directory entry and an
 * identity taken from a message are compared as the same bytes only if both went through the same
 * code. This class only adapts the protocol's checked exception to the directory's
 * {@link IllegalArgumentException}.
 */
public final class Identities {
  private Identities() {}

  /**
   * Returns the protocol's normal form of {@code identity}: a {@code sip:}, {@code sips:} or
   * {@code tel:} URI, stripped, scheme lower-case, the host of a SIP URI lower-case (user part
   * kept), a tel URI lower-cased, at most {@value Identity#MAX_BYTES} bytes of UTF-8.
   *
   * @throws IllegalArgumentException if the protocol refuses the identity (white space or a
   *     control character, another scheme or none, an empty part, too long). The message says
   *     what is wrong but does not repeat the input.
   * @throws NullPointerException if {@code identity} is null
   */
  public static String normalise(String identity) {
    Objects.requireNonNull(identity, "identity");
    try {
      return Identity.normalise(identity);
    } catch (ProtocolException e) {
      throw new IllegalArgumentException(reason(e));
    }
  }

  /** The protocol's fixed description, without the "MALFORMED: " prefix. */
  private static String reason(ProtocolException e) {
    String m = e.getMessage();
    String prefix = e.code() + ": ";
    return m.startsWith(prefix) ? m.substring(prefix.length()) : m;
  }
}
