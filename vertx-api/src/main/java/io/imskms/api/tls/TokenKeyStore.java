package io.imskms.api.tls;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.TokenProbe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.Provider;
import java.security.Security;

/**
 * The SunPKCS11 key store that holds the server's TLS key in the token, used by the server, by
 * {@code kms tls} and by {@code kms config check} alike. Unless {@code tls.keyStore.pkcs11Config}
 * names a SunPKCS11 configuration file of the operator's own, the configuration is made from
 * {@code hsm.module} and {@code hsm.tokenLabel} (the token's slot id looked up by label, since
 * SunPKCS11 cannot choose a token by label), with private keys generated through it sensitive and
 * non-extractable.
 *
 * @param provider the configured SunPKCS11 provider (not installed globally)
 * @param store the loaded key store, logged in
 */
public record TokenKeyStore(Provider provider, KeyStore store) {

  /** Opens and logs in to the key store; the caller keeps and wipes the PIN. */
  public static TokenKeyStore open(ApiConfig cfg, char[] pin) throws ConfigException {
    Provider base = Security.getProvider("SunPKCS11");
    if (base == null) {
      throw new ConfigException("this Java runtime has no SunPKCS11 provider");
    }
    String source = sunPkcs11Config(cfg);
    try {
      Provider p = base.configure(source);
      KeyStore ks = KeyStore.getInstance("PKCS11", p);
      ks.load(null, pin);
      return new TokenKeyStore(p, ks);
    } catch (Exception e) {
      throw new ConfigException("cannot open the PKCS#11 TLS key store of token '"
          + cfg.hsm().tokenLabel() + "' (" + e.getClass().getSimpleName() + ")", e);
    }
  }

  /** The configuration SunPKCS11 is given: the operator's file, or one made from hsm.*. */
  static String sunPkcs11Config(ApiConfig cfg) throws ConfigException {
    String file = cfg.tls().keyStore().pkcs11Config();
    if (file != null && !file.isBlank()) {
      if (!Files.isReadable(Path.of(file))) {
        throw new ConfigException("tls.keyStore.pkcs11Config (" + file + ") is not a readable"
            + " file");
      }
      return file;
    }
    long slot;
    try {
      slot = TokenProbe.slotIdOf(Path.of(cfg.hsm().module()), cfg.hsm().tokenLabel());
    } catch (HsmException e) {
      throw new ConfigException("the TLS key's token: " + e.getMessage(), e);
    }
    // A leading "--" tells SunPKCS11 that this is the configuration itself, not a file name.
    return "--name = ims-kms-tls\n"
        + "library = " + cfg.hsm().module() + "\n"
        + "slot = " + slot + "\n"
        + "attributes(generate, CKO_PRIVATE_KEY, *) = {\n"
        + "  CKA_SENSITIVE = true\n"
        + "  CKA_EXTRACTABLE = false\n"
        + "}\n";
  }
}
