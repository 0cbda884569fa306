package io.imskms.api.tls;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.KeyCertOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the {@code tls} configuration to the server options: TLS 1.3 only unless TLS 1.2 is
 * listed, the client CA for mailbox certificates with client authentication requested (enforced
 * per route, not at the handshake, so UE endpoints work without a certificate), and the server
 * key from a PEM file or from the token through SunPKCS11.
 */
public final class ServerTls {
  private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);
  private static final Set<String> ALLOWED = Set.of("TLSv1.3", "TLSv1.2");

  private ServerTls() {}

  /**
   * Configures TLS on {@code options}.
   *
   * @param pin the token PIN, only read when the key store type is pkcs11; not retained
   */
  public static HttpServerOptions apply(HttpServerOptions options, ApiConfig config, char[] pin)
      throws ConfigException {
    ApiConfig.Tls tls = config.tls();
    Set<String> protocols = new LinkedHashSet<>(tls.protocols());
    if (protocols.isEmpty() || !ALLOWED.containsAll(protocols)) {
      throw new ConfigException("tls.protocols must list TLSv1.3 and optionally TLSv1.2, got "
          + tls.protocols());
    }
    requireReadable(tls.clientCaFile(), "tls.clientCaFile");
    KeyCertOptions keyCert;
    if (tls.keyStore().isPkcs11()) {
      if (config.hsm().recycleAfterObjects() > 0) {
        throw new ConfigException("tls.keyStore.type=pkcs11 needs hsm.recycleAfterObjects=0:"
            + " a module recycle (C_Finalize) would also close SunPKCS11's sessions"
            + " (docs/architecture.md)");
      }
      keyCert = pkcs11(config, pin);
      LOG.warn("TLS server key served from the PKCS#11 token through SunPKCS11 ({}): if the HSM"
          + " adapter recovers from a token fault, its C_Finalize also ends SunPKCS11's sessions"
          + " and TLS handshakes fail until this process is restarted, unless the TLS key lives"
          + " in a separate library instance or slot (docs/api.md)", tls.keyStore().pkcs11Config()
          .isBlank() ? "token '" + config.hsm().tokenLabel() + "'" : tls.keyStore().pkcs11Config());
    } else if ("pem".equalsIgnoreCase(tls.keyStore().type())) {
      requireReadable(tls.certFile(), "tls.certFile");
      requireReadable(tls.keyFile(), "tls.keyFile");
      keyCert = new PemKeyCertOptions().setCertPath(tls.certFile()).setKeyPath(tls.keyFile());
    } else {
      throw new ConfigException("tls.keyStore.type must be pem or pkcs11");
    }
    return options.setSsl(true)
        .setUseAlpn(false)
        .setEnabledSecureTransportProtocols(protocols)
        .setKeyCertOptions(keyCert)
        .setTrustOptions(new PemTrustOptions().addCertPath(tls.clientCaFile()))
        .setClientAuth(ClientAuth.REQUEST);
  }

  private static void requireReadable(String file, String key) throws ConfigException {
    if (file == null || file.isBlank() || !Files.isReadable(Path.of(file))) {
      throw new ConfigException(key + " (" + file + ") is not a readable file");
    }
  }

  /**
   * The server key in the token: a SunPKCS11 key store over the configured module and token
   * ({@link TokenKeyStore}), logged in with the token PIN. The key and its certificate must be
   * on the token (kms tls keygen, csr, import-cert).
   */
  static KeyCertOptions pkcs11(ApiConfig config, char[] pin) throws ConfigException {
    ApiConfig.KeyStore ks = config.tls().keyStore();
    TokenKeyStore token = TokenKeyStore.open(config, pin);
    try {
      Provider p = token.provider();
      // JSSE finds the signature implementation for the token key among installed providers.
      if (Security.getProvider(p.getName()) == null) {
        Security.addProvider(p);
      }
      KeyStore store = token.store();
      String alias = ks.alias() == null ? "" : ks.alias();
      if (!alias.isEmpty() && !store.isKeyEntry(alias)) {
        throw new ConfigException("the PKCS#11 key store has no key entry " + alias);
      }
      KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
      kmf.init(store, pin);
      X509KeyManager km = firstX509(kmf.getKeyManagers());
      return KeyCertOptions.wrap(alias.isEmpty() ? km : new FixedAlias(km, alias));
    } catch (GeneralSecurityException | RuntimeException e) {
      throw new ConfigException("cannot open the PKCS#11 TLS key store ("
          + e.getClass().getSimpleName() + ")", e);
    }
  }

  private static X509KeyManager firstX509(KeyManager[] kms) throws ConfigException {
    return Arrays.stream(kms).filter(k -> k instanceof X509KeyManager)
        .map(k -> (X509KeyManager) k).findFirst()
        .orElseThrow(() -> new ConfigException("no X.509 key manager for the key store"));
  }

  /** Serves one configured alias of a key store that may hold several. */
  private static final class FixedAlias extends X509ExtendedKeyManager {
    private final X509KeyManager delegate;
    private final String alias;

    FixedAlias(X509KeyManager delegate, String alias) {
      this.delegate = delegate;
      this.alias = alias;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine e) {
      return matches(keyType) ? alias : null;
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket s) {
      return matches(keyType) ? alias : null;
    }

    private boolean matches(String keyType) {
      PrivateKey k = delegate.getPrivateKey(alias);
      return k != null && keyType != null && keyType.startsWith(k.getAlgorithm());
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return matches(keyType) ? new String[] {alias} : null;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket s) {
      return null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String a) {
      return delegate.getCertificateChain(a);
    }

    @Override
    public PrivateKey getPrivateKey(String a) {
      return delegate.getPrivateKey(a);
    }
  }
}
