package io.imskms.api;

import io.imskms.api.tls.ClientIdentity;
import io.vertx.core.http.HttpConnection;
import io.vertx.ext.web.RoutingContext;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Mailbox authentication (seed step 1m): the TLS layer requests a client certificate and
 * verifies it against the mailbox CA; here each mailbox route requires that one was presented
 * (else 401) and that its subjectAltName URI is the mailbox principal the request names (else
 * 403).
 */
final class MutualTls {
  private MutualTls() {}

  /** The verified client certificate, or CLIENT_CERT_REQUIRED. */
  static X509Certificate peer(RoutingContext rc) throws ApiFailure {
    HttpConnection conn = rc.request().connection();
    if (conn == null || !conn.isSsl()) {
      throw new ApiFailure(Failure.CLIENT_CERT_REQUIRED);
    }
    try {
      List<Certificate> chain = conn.peerCertificates();
      if (chain == null || chain.isEmpty() || !(chain.get(0) instanceof X509Certificate)) {
        throw new ApiFailure(Failure.CLIENT_CERT_REQUIRED);
      }
      return (X509Certificate) chain.get(0);
    } catch (SSLPeerUnverifiedException e) {
      throw new ApiFailure(Failure.CLIENT_CERT_REQUIRED);
    }
  }

  /** Requires a client certificate that names {@code principal} (in normal form). */
  static void requirePrincipal(RoutingContext rc, String principal) throws ApiFailure {
    if (!ClientIdentity.names(peer(rc), principal)) {
      throw new ApiFailure(Failure.CLIENT_CERT_IDENTITY_MISMATCH);
    }
  }
}
