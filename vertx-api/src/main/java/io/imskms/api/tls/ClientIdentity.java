package io.imskms.api.tls;

import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The identity a client certificate vouches for: its subjectAltName URIs (type 6), in the
 * protocol's normal form. The subject CN is deliberately not used: only the SAN is meant as an
 * identity, and it is the field CAs constrain.
 */
public final class ClientIdentity {
  private static final int SAN_URI = 6;

  private ClientIdentity() {}

  /** The SAN URIs of {@code cert} that are valid protocol identities, normalised. */
  public static List<String> sanUris(X509Certificate cert) {
    List<String> out = new ArrayList<>();
    Collection<List<?>> sans;
    try {
      sans = cert.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      return out;
    }
    if (sans == null) {
      return out;
    }
    for (List<?> san : sans) {
      if (san.size() >= 2 && Integer.valueOf(SAN_URI).equals(san.get(0))
          && san.get(1) instanceof String) {
        try {
          out.add(Identity.normalise((String) san.get(1)));
        } catch (ProtocolException e) {
          // A URI that is not a SIP/tel identity names no principal; skip it.
        }
      }
    }
    return out;
  }

  /** Whether {@code cert} names {@code principal} (already in normal form) in a SAN URI. */
  public static boolean names(X509Certificate cert, String principal) {
    return sanUris(cert).contains(principal);
  }
}
