package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;
import org.xipki.pkcs11.wrapper.Token;
import org.xipki.pkcs11.wrapper.TokenInfo;

/**
 * Creates the KMS token through PKCS#11 (C_InitToken, C_InitPIN) when no token with its label
 * exists, and does nothing otherwise. Used by softhsm-config/setup-token.sh and by the tests; it
 * goes through PKCS#11 rather than softhsm2-util so that no PIN ever appears on a command line.
 */
public final class TokenSetup {
  private TokenSetup() {}

  /**
   * Ensures a token labelled {@code label} exists and has a user PIN.
   *
   * @return true if the token was created now, false if it already existed
   */
  public static boolean ensureToken(Path modulePath, String label, char[] soPin, char[] userPin)
      throws HsmException {
    PKCS11Module module = Pkcs11Modules.get(modulePath);
    boolean initialisedHere = true;
    try {
      module.initialize();
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw Ckr.translate(Ckr.Op.SESSION, "C_Initialize", e);
      }
      initialisedHere = false;
    }
    try {
      Token existing = findToken(module, label);
      if (existing != null) {
        checkUserPin(existing, label, userPin);
        return false;
      }
      Slot free = null;
      for (Slot slot : module.getSlotList(true)) {
        if (!slot.getToken().getTokenInfo().isTokenInitialized()) {
          free = slot;
          break;
        }
      }
      if (free == null) {
        throw new HsmMisconfigurationException("no token labelled '" + label
            + "' and no free slot to create one in " + modulePath);
      }
      // CK_TOKEN_INFO labels are 32 bytes, blank padded; SoftHSM2 reads all 32 bytes.
      module.getPKCS11Module().C_InitToken(free.getSlotID(), soPin, paddedLabel(label), true);
      // Slot ids are reassigned when a token is initialised: find it again by label.
      Token token = findToken(module, label);
      if (token == null) {
        throw new HsmMisconfigurationException("token '" + label + "' not found after C_InitToken");
      }
      Session so = token.openSession(true);
      try {
        so.login(CKU_SO, soPin);
        so.initPIN(userPin);
        so.logout();
      } finally {
        so.closeSession();
      }
      return true;
    } catch (iaik.pkcs.pkcs11.wrapper.PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.SESSION, "C_InitToken '" + label + "'",
          new PKCS11Exception(e.getErrorCode()));
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.SESSION, "token set-up '" + label + "'", e);
    } finally {
      if (initialisedHere) {
        try {
          module.finalize(null);
        } catch (PKCS11Exception ignored) {
          // nothing to release
        }
      }
    }
  }

  /** Reusing a token with a PIN that does not open it would only fail later, less clearly. */
  private static void checkUserPin(Token token, String label, char[] userPin)
      throws HsmException, PKCS11Exception {
    Session s = token.openSession(false);
    try {
      s.login(CKU_USER, userPin);
      s.logout();
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() != CKR_USER_ALREADY_LOGGED_IN) {
        throw Ckr.translate(Ckr.Op.LOGIN, "existing token '" + label + "'", e);
      }
    } finally {
      s.closeSession();
    }
  }

  static char[] paddedLabel(String label) throws HsmPolicyException {
    if (label.isEmpty() || label.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 32
        || !label.chars().allMatch(c -> c >= 0x21 && c < 0x7f)) {
      throw new HsmPolicyException("a token label is 1 to 32 printable ASCII characters");
    }
    char[] padded = new char[32];
    Arrays.fill(padded, ' ');
    label.getChars(0, label.length(), padded, 0);
    return padded;
  }

  private static Token findToken(PKCS11Module module, String label) throws PKCS11Exception {
    for (Slot slot : module.getSlotList(true)) {
      TokenInfo info = slot.getToken().getTokenInfo();
      if (info.isTokenInitialized() && label.equals(info.getLabel().trim())) {
        return slot.getToken();
      }
    }
    return null;
  }

  /**
   * {@code TokenSetup --module PATH --label LABEL (--so-pin-file F | --so-pin-env VAR)
   * (--pin-file F | --pin-env VAR)}. Exit codes: 0 done, 1 failure, 64 usage.
   */
  public static void main(String[] args) {
    Path module = Path.of("/usr/lib/softhsm/libsofthsm2.so");
    String label = "ims-kms";
    char[] soPin = null;
    char[] userPin = null;
    try {
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        String v = i + 1 < args.length ? args[i + 1] : null;
        if (v == null) {
          usage("missing value for " + a);
        }
        i++;
        switch (a) {
          case "--module" -> module = Path.of(v);
          case "--label" -> label = v;
          case "--so-pin-file" -> soPin = HsmConfig.readPinFile(Path.of(v));
          case "--pin-file" -> userPin = HsmConfig.readPinFile(Path.of(v));
          case "--so-pin-env" -> soPin = pinFromEnv(v);
          case "--pin-env" -> userPin = pinFromEnv(v);
          default -> usage("unknown option " + a);
        }
      }
      if (soPin == null || userPin == null) {
        usage("both the SO PIN and the user PIN are required");
      }
      boolean created = ensureToken(module, label, soPin, userPin);
      System.out.println(created ? "token '" + label + "' created" : "token '" + label
          + "' already exists; reused");
      System.exit(0);
    } catch (IOException | HsmException e) {
      System.err.println("token set-up failed: " + e.getMessage());
      System.exit(1);
    } finally {
      if (soPin != null) {
        Arrays.fill(soPin, '\0');
      }
      if (userPin != null) {
        Arrays.fill(userPin, '\0');
      }
    }
  }

  private static char[] pinFromEnv(String var) {
    String v = System.getenv(var);
    if (v == null || v.isBlank()) {
      usage("environment variable " + var + " is not set");
    }
    return v.strip().toCharArray();
  }

  private static void usage(String problem) {
    System.err.println("TokenSetup: " + problem);
    System.err.println("usage: TokenSetup --module PATH --label LABEL"
        + " (--so-pin-file F | --so-pin-env VAR) (--pin-file F | --pin-env VAR)");
    System.exit(64);
  }
}
