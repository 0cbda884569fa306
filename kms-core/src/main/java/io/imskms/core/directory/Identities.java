package io.imskms.core.directory;

import java.util.Locale;
import java.util.Objects;

/**
 * The one place where public identities (IMPUs such as {@code sip:bob@ims.example.com} or
 * {@code tel:+4930123456}) are brought into the form in which the KMS compares them.
 *
 * <p>The normalisation is deliberately simple and lossless for what it keeps:
 *
 * <ul>
 *   <li>leading and trailing white space is removed ({@link String#strip()});
 *   <li>an identity that is empty afterwards, or that contains white space or a control character
 *       anywhere, is refused (a SIP or tel URI never contains them unescaped, and refusing them
 *       keeps log lines and directory files unambiguous);
 *   <li>the URI scheme, if there is one ({@code ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")} before the
 *       first {@code ':'}), is lower-cased;
 *   <li>{@code sip:} and {@code sips:}: the host part (between the last {@code '@'} and the first
 *       {@code ';'} or {@code '?'}, including a port) is lower-cased; the user part, parameters and
 *       headers are kept as they are, because RFC 3261 §19.1.4 compares the user part
 *       case-sensitively. The user part (if there is an {@code '@'}) and the host must not be
 *       empty;
 *   <li>{@code tel:}: the whole URI is lower-cased (RFC 3966 numbers, the hex digits and the
 *       parameters compare case-insensitively); visual separators ({@code -.()}) are <em>not</em>
 *       removed, so {@code tel:+49-30-1} and {@code tel:+49301} are different identities;
 *   <li>anything else (another scheme, or no scheme, such as an NAI {@code user@realm}) is only
 *       stripped and has its scheme lower-cased.
 * </ul>
 *
 * <p>Percent-encoding, URI parameters and the order of parameters are not canonicalised: a
 * directory and the clients of one deployment are expected to write identities the same way.
 */
public final class Identities {
  private Identities() {}

  /**
   * Returns the normalised form of {@code identity} (see the class description).
   *
   * @throws IllegalArgumentException if the identity is empty, contains white space or a control
   *     character, or is a {@code sip:}/{@code sips:}/{@code tel:} URI with an empty part. The
   *     message says what is wrong but does not repeat the input, which may come from a request.
   * @throws NullPointerException if {@code identity} is null
   */
  public static String normalise(String identity) {
    Objects.requireNonNull(identity, "identity");
    String s = identity.strip();
    if (s.isEmpty()) {
      throw new IllegalArgumentException("identity is empty");
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isWhitespace(c) || Character.isISOControl(c) || Character.isSpaceChar(c)) {
        throw new IllegalArgumentException("identity contains white space or a control character");
      }
    }
    int colon = s.indexOf(':');
    if (colon <= 0 || !isScheme(s, colon)) {
      return s;
    }
    String scheme = s.substring(0, colon).toLowerCase(Locale.ROOT);
    String rest = s.substring(colon + 1);
    if (rest.isEmpty()) {
      throw new IllegalArgumentException("identity has a URI scheme but nothing after it");
    }
    switch (scheme) {
      case "sip":
      case "sips":
        return scheme + ':' + sipRest(rest);
      case "tel":
        return "tel:" + rest.toLowerCase(Locale.ROOT);
      default:
        return scheme + ':' + rest;
    }
  }

  private static boolean isScheme(String s, int end) {
    if (!isAsciiLetter(s.charAt(0))) {
      return false;
    }
    for (int i = 1; i < end; i++) {
      char c = s.charAt(i);
      if (!isAsciiLetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') {
        return false;
      }
    }
    return true;
  }

  private static boolean isAsciiLetter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  private static String sipRest(String rest) {
    int end = rest.length();
    for (int i = 0; i < rest.length(); i++) {
      char c = rest.charAt(i);
      if (c == ';' || c == '?') {
        end = i;
        break;
      }
    }
    int at = rest.lastIndexOf('@', end - 1);
    if (at == 0) {
      throw new IllegalArgumentException("SIP URI has an empty user part");
    }
    String host = rest.substring(at + 1, end);
    if (host.isEmpty()) {
      throw new IllegalArgumentException("SIP URI has an empty host part");
    }
    return rest.substring(0, at + 1) + host.toLowerCase(Locale.ROOT) + rest.substring(end);
  }
}
