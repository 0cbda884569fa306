package io.imskms.hsm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.StaticLogger;

/**
 * Loads each PKCS#11 library once per JVM. A library may be C_Initialize'd only once per process
 * at a time, so every user of a module in this JVM must go through here.
 */
final class Pkcs11Modules {
  private static final Logger LOG = LoggerFactory.getLogger(Pkcs11Modules.class);
  private static final Map<Path, PKCS11Module> MODULES = new HashMap<>();

  static {
    // The wrapper prints INFO lines (banner, every C_OpenSession) to stdout unless told otherwise.
    StaticLogger.setLogger(new WrapperLogger());
  }

  private Pkcs11Modules() {}

  static synchronized PKCS11Module get(Path library) throws HsmException {
    Path key = library.toAbsolutePath().normalize();
    PKCS11Module m = MODULES.get(key);
    if (m != null) {
      return m;
    }
    if (!Files.isReadable(key)) {
      throw new HsmMisconfigurationException("PKCS#11 library " + key + " does not exist or is"
          + " not readable (for SoftHSM2: apt-get install -y softhsm2)");
    }
    String conf = System.getenv("SOFTHSM2_CONF");
    if (key.getFileName().toString().contains("softhsm")) {
      // SoftHSM2 reports configuration errors only to syslog: check the obvious ones ourselves.
      if (conf == null) {
        LOG.warn("SOFTHSM2_CONF is not set: SoftHSM2 will use its system default configuration");
      } else if (!Files.isReadable(Path.of(conf))) {
        throw new HsmMisconfigurationException("SOFTHSM2_CONF points to " + conf
            + ", which does not exist or is not readable");
      }
    }
    try {
      m = PKCS11Module.getInstance(key.toString());
    } catch (IOException | RuntimeException e) {
      throw new HsmMisconfigurationException("cannot load PKCS#11 library " + key + ": "
          + e.getMessage(), HsmException.NO_CKR, e);
    }
    MODULES.put(key, m);
    return m;
  }

  /** Routes the wrapper's logging to SLF4J, one level quieter than it asks for. */
  private static final class WrapperLogger implements org.xipki.pkcs11.wrapper.Logger {
    private static final Logger W = LoggerFactory.getLogger("io.imskms.hsm.wrapper");

    @Override
    public void info(String format, Object... args) {
      W.debug(format, args);
    }

    @Override
    public void warn(String format, Object... args) {
      W.warn(format, args);
    }

    @Override
    public void error(String format, Object... args) {
      W.error(format, args);
    }

    // The wrapper's debug and trace lines print call arguments: templates (CKA_VALUE of an
    // imported key: the conformance vectors) and mechanism parameters (the key components of a
    // backup ceremony are C_DeriveKey data). Secrets never go to a log, so they are dropped
    // whatever the logging configuration says.
    @Override
    public void debug(String format, Object... args) {
      // dropped: may carry key material
    }

    @Override
    public void trace(String format, Object... args) {
      // dropped: may carry key material
    }

    @Override
    public boolean isDebugEnabled() {
      return false;
    }

    @Override
    public boolean isInfoEnabled() {
      return W.isDebugEnabled();
    }

    @Override
    public boolean isWarnEnabled() {
      return W.isWarnEnabled();
    }

    @Override
    public boolean isTraceEnabled() {
      return false;
    }
  }
}
