package io.imskms.protocol;

import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Identity normalisation (docs/protocol.md, "Identities"). Every identity that enters a message, a
 * KDF context, a B-TID or a ticket is in normal form; a received identity that is not already in
 * normal form is malformed, so one principal has exactly one byte representation.
 */
public final class Identity {
  /** Longest identity in UTF-8 bytes. */
  public static final int MAX_BYTES = 255;

  private Identity() {}

  /**
   * Normalises a SIP, SIPS or tel URI: surrounding white space removed, scheme lower-case, host
   * part (after the last '@', up to ';', '?' or ':') of sip/sips URIs lower-case, the user part
   * kept as is (RFC 3261 compares it case-sensitively); a tel URI is lower-cased as a whole.
   * Rejects control characters and inner white space, an unknown scheme, an empty user or host,
   * and more than {@value #MAX_BYTES} UTF-8 bytes. The only implementation of these rules: the
   * KMS's mailbox directory normalises its entries with it too.
   */
  public static String normalise(String raw) throws ProtocolException {
    if (raw == null) {
      throw ProtocolException.malformed("identity missing");
    }
    String s = raw.strip();
    if (s.isEmpty()) {
      throw ProtocolException.malformed("identity is empty");
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isWhitespace(c) || Character.isISOControl(c) || Character.isSpaceChar(c)
          || Character.isSurrogate(c) && !validSurrogateAt(s, i)) {
        throw ProtocolException.malformed("identity contains white space or control characters");
      }
    }
    int colon = s.indexOf(':');
    if (colon <= 0) {
      throw ProtocolException.malformed("identity has no URI scheme");
    }
    String scheme = s.substring(0, colon).toLowerCase(Locale.ROOT);
    String rest = s.substring(colon + 1);
    String out;
    switch (scheme) {
      case "sip":
      case "sips": {
        int at = rest.lastIndexOf('@');
        String user = at < 0 ? "" : rest.substring(0, at + 1);
        String hostAndParams = at < 0 ? rest : rest.substring(at + 1);
        int end = hostAndParams.length();
        for (char stop : new char[] {';', '?', ':'}) {
          int p = hostAndParams.indexOf(stop);
          if (p >= 0 && p < end) {
            end = p;
          }
        }
        String host = hostAndParams.substring(0, end);
        if (host.isEmpty() || at == 0) {
          throw ProtocolException.malformed("sip identity needs a host (and a non-empty user)");
        }
        out = scheme + ":" + user + host.toLowerCase(Locale.ROOT) + hostAndParams.substring(end);
        break;
      }
      case "tel":
        if (rest.isEmpty()) {
          throw ProtocolException.malformed("tel identity is empty");
        }
        out = (scheme + ":" + rest).toLowerCase(Locale.ROOT);
        break;
      default:
        throw ProtocolException.malformed("identity scheme must be sip, sips or tel");
    }
    if (out.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
      throw ProtocolException.malformed("identity longer than 255 bytes");
    }
    return out;
  }

  private static boolean validSurrogateAt(String s, int i) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
  }

  /** Whether {@code id} is already in normal form. */
  public static boolean isNormal(String id) {
    try {
      return normalise(id).equals(id);
    } catch (ProtocolException e) {
      return false;
    }
  }

  /** Throws MALFORMED unless {@code id} is in normal form (used on every received identity). */
  public static String requireNormal(String id) throws ProtocolException {
    if (!isNormal(id)) {
      throw ProtocolException.malformed("identity not in normal form");
    }
    return id;
  }
}
