package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.ConfigLoader;
import io.imskms.api.tls.DevTls;
import io.imskms.api.tls.ServerTls;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.junit5.VertxExtension;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLSession;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

/**
 * The server's TLS key kept in the SoftHSM2 token and used through a SunPKCS11 key store, in the
 * same process as the adapter (module recycling off).
 */
@ExtendWith(VertxExtension.class)
class Pkcs11TlsKeyTest {
  private static final String ALIAS = "kms-tls";
  private static TestKms kms;
  private static X509Certificate imported;

  private static final ListAppender<ILoggingEvent> TLS_LOG = new ListAppender<>();

  @BeforeAll
  static void start() throws Exception {
    TLS_LOG.start();
    ((Logger) LoggerFactory.getLogger(ServerTls.class)).addAppender(TLS_LOG);
    kms = TestKms.start(env -> {
      try {
        Path tls = Path.of(env.get("KMS_DEV_TLS_DIR"));
        DevTls dev = DevTls.ensure(tls, List.of(TestKms.VM_BOB));
        Path cfg = tls.resolveSibling("sunpkcs11.cfg");
        Files.writeString(cfg, "name = imskms-tls-test\nlibrary = " + env.get("KMS_HSM_MODULE")
            + "\nslotListIndex = 0\n", StandardCharsets.US_ASCII);
        imported = DevTls.readCert(dev.serverCert());
        KeyStore ks = tokenKeyStore(cfg, env.get("KMS_HSM_PIN").toCharArray());
        ks.setKeyEntry(ALIAS, readKey(dev.serverKey()), null,
            new Certificate[] {imported, DevTls.readCert(dev.caCert())});
        assertTrue(ks.getKey(ALIAS, null).getClass().getName().contains("P11"),
            "the key must be a token object");
        env.put("KMS_TLS_KEY_STORE_TYPE", "pkcs11");
        env.put("KMS_TLS_KEY_STORE_PKCS11_CONFIG", cfg.toString());
        env.put("KMS_TLS_KEY_STORE_ALIAS", ALIAS);
        env.put("KMS_HSM_RECYCLE_AFTER_OBJECTS", "0");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
  }

  @AfterAll
  static void stop() {
    ((Logger) LoggerFactory.getLogger(ServerTls.class)).detachAppender(TLS_LOG);
    kms.close();
  }

  @Test
  void startUp_warnsThatATokenRecoveryBreaksTlsUntilRestart() {
    assertTrue(TLS_LOG.list.stream().anyMatch(e -> e.getLevel() == Level.WARN
        && e.getFormattedMessage().contains("C_Finalize")
        && e.getFormattedMessage().contains("restarted")), "no start-up WARN about recovery");
  }

  private static KeyStore tokenKeyStore(Path cfg, char[] pin) throws Exception {
    Provider p = Security.getProvider("SunPKCS11").configure(cfg.toString());
    KeyStore ks = KeyStore.getInstance("PKCS11", p);
    ks.load(null, pin);
    return ks;
  }

  private static PrivateKey readKey(Path file) throws Exception {
    try (Reader r = Files.newBufferedReader(file); PEMParser p = new PEMParser(r)) {
      return new JcaPEMKeyConverter().getPrivateKey((PrivateKeyInfo) p.readObject());
    }
  }

  @Test
  void handshake_isSignedWithTheTokenKey_andTheProtocolWorks() throws Exception {
    HttpResponse<Buffer> r = kms.ue.get("/health/ready").send().await();
    assertEquals(200, r.statusCode());
    SSLSession[] session = new SSLSession[1];
    kms.clientVertx.createHttpClient(new io.vertx.core.http.HttpClientOptions()
            .setSsl(true)
            .setTrustOptions(new io.vertx.core.net.PemTrustOptions()
                .addCertPath(kms.app.devTls().caCert().toString())))
        .request(io.vertx.core.http.HttpMethod.GET, kms.app.port(), "localhost", "/health/live")
        .compose(req -> req.send().map(resp -> {
          session[0] = req.connection().sslSession();
          return resp;
        })).await();
    assertEquals("TLSv1.3", session[0].getProtocol());
    assertArrayEquals(imported.getEncoded(), session[0].getPeerCertificates()[0].getEncoded());
    // A full protocol request over that TLS server, with the adapter in the same process.
    assertTrue(kms.bootstrap(kms.ue, kms.enrol(io.imskms.protocol.Role.UE, TestKms.ALICE))
        != null);
  }

  @Test
  void pkcs11KeyStore_withModuleRecycling_isRefused() throws Exception {
    ApiConfig c = ConfigLoader.load(null, Map.of("KMS_TLS_KEY_STORE_TYPE", "pkcs11",
        "KMS_TLS_CLIENT_CA_FILE", kms.app.devTls().caCert().toString(),
        "KMS_HSM_RECYCLE_AFTER_OBJECTS", "10000"));
    ConfigException e = assertThrows(ConfigException.class,
        () -> ServerTls.apply(new HttpServerOptions(), c, new char[0]));
    assertTrue(e.getMessage().contains("recycleAfterObjects"), e.getMessage());
  }
}
