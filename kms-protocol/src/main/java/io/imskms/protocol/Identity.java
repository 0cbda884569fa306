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
    if (certainlyNormal(id)) {
      return true;
    }
    try {
      return normalise(id).equals(id);
    } catch (ProtocolException e) {
      return false;
    }
  }

  /**
   * A check without allocation for the common case, called on every received identity: true
   * only if {@link #normalise} would return {@code id} unchanged (printable ASCII, so one byte
   * per character and nothing to strip; a lower-case {@code sip:}/{@code sips:} URI with a
   * non-empty user or none, a non-empty host without upper-case letters; or a lower-case
   * {@code tel:} URI). False means "not sure": {@link #isNormal} then asks {@code normalise}
   * itself. {@code IdentityTest} holds the two to the same answers.
   */
  static boolean certainlyNormal(String id) {
    if (id == null || id.length() > MAX_BYTES) {
      return false;
    }
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (c <= 0x20 || c >= 0x7f) {
        return false;
      }
    }
    int start;
    if (id.startsWith("sip:")) {
      start = 4;
    } else if (id.startsWith("sips:")) {
      start = 5;
    } else if (id.startsWith("tel:")) {
      return id.length() > 4 && noUpperCase(id, 4, id.length());
    } else {
      return false;
    }
    int at = id.lastIndexOf('@');
    if (at == start) {
      return false; // an empty user
    }
    int host = at < start ? start : at + 1;
    int end = id.length();
    for (int i = host; i < id.length(); i++) {
      char c = id.charAt(i);
      if (c == ';' || c == '?' || c == ':') {
        end = i;
        break;
      }
    }
    return end > host && noUpperCase(id, host, end);
  }

  private static boolean noUpperCase(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (c >= 'A' && c <= 'Z') {
        return false;
      }
    }
    return true;
  }

  /** Throws MALFORMED unless {@code id} is in normal form (used on every received identity). */
  public static String requireNormal(String id) throws ProtocolException {
    if (!isNormal(id)) {
      throw ProtocolException.malformed("identity not in normal form");
    }
    return id;
  }
}
