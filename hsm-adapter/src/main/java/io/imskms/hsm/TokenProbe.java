package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKR_CRYPTOKI_ALREADY_INITIALIZED;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKR_USER_ALREADY_LOGGED_IN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKU_USER;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.ckmCodeToName;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;
import org.xipki.pkcs11.wrapper.Token;
import org.xipki.pkcs11.wrapper.TokenException;

/**
 * Step-by-step diagnosis of a token before anything uses it ({@code kms config check}): the
 * PKCS#11 library loads and initialises, the token is found by label, it offers every mechanism
 * the KMS needs (all missing ones are named, not only the first), and the user PIN logs in. Each
 * step says what to do when it fails; the run stops at the first failed step. Nothing is created
 * on the token; the PIN is never part of a result.
 */
public final class TokenProbe {
  private TokenProbe() {}

  /**
   * One step's outcome.
   *
   * @param name what was checked
   * @param ok whether it passed
   * @param detail what was found, or for a failure what to do
   */
  public record Step(String name, boolean ok, String detail) {}

  /** The names of the mechanisms the KMS requires of a token (docs/architecture.md). */
  public static List<String> requiredMechanisms() {
    return Arrays.stream(Pkcs11Hsm.REQUIRED_MECHANISMS).mapToObj(m -> ckmCodeToName(m)).toList();
  }

  /**
   * The PKCS#11 slot id of the token labelled {@code tokenLabel}, for configurations that name
   * slots (SunPKCS11 has no token-label option): the KMS chooses tokens by label everywhere and
   * turns the label into a slot id at start-up, since slot ids may change between restarts.
   *
   * @throws HsmException if the library cannot be loaded or no token has that label
   */
  public static long slotIdOf(Path library, String tokenLabel) throws HsmException {
    PKCS11Module module = Pkcs11Modules.get(library);
    try {
      try {
        module.initialize();
      } catch (PKCS11Exception e) {
        if (e.getErrorCode() != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
          throw e;
        }
      }
      for (Slot slot : module.getSlotList(true)) {
        if (slot.getToken().getTokenInfo().getLabel().trim().equals(tokenLabel)) {
          return slot.getSlotID();
        }
      }
    } catch (TokenException e) {
      throw new HsmUnavailableException("cannot list the slots of " + library + ": "
          + e.getMessage());
    }
    throw new HsmMisconfigurationException("no token labelled '" + tokenLabel + "' in "
        + library);
  }

  /** Runs the steps in order and returns them, stopping after the first failure. */
  public static List<Step> run(Path library, String tokenLabel, char[] userPin) {
    Objects.requireNonNull(library, "library");
    Objects.requireNonNull(tokenLabel, "tokenLabel");
    Objects.requireNonNull(userPin, "userPin");
    List<Step> steps = new ArrayList<>();
    PKCS11Module module;
    try {
      module = Pkcs11Modules.get(library);
      try {
        module.initialize();
      } catch (PKCS11Exception e) {
        if (e.getErrorCode() != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
          throw e;
        }
      }
      steps.add(new Step("PKCS#11 library loads", true, library + " ("
          + module.getInfo().getManufacturerID().trim() + ")"));
    } catch (HsmException | TokenException | RuntimeException e) {
      steps.add(new Step("PKCS#11 library loads", false, library + ": " + e.getMessage()
          + "; check hsm.module (the vendor's PKCS#11 library; SoftHSM2:"
          + " /usr/lib/softhsm/libsofthsm2.so) and, for SoftHSM2, SOFTHSM2_CONF"));
      return steps;
    }
    Token token = null;
    List<String> seen = new ArrayList<>();
    try {
      for (Slot slot : module.getSlotList(true)) {
        Token t = slot.getToken();
        String label = t.getTokenInfo().getLabel().trim();
        seen.add(label);
        if (label.equals(tokenLabel)) {
          token = t;
          break;
        }
      }
    } catch (TokenException e) {
      steps.add(new Step("token found by label", false, "listing the slots failed: "
          + e.getMessage()));
      return steps;
    }
    if (token == null) {
      steps.add(new Step("token found by label", false, "no token labelled '" + tokenLabel
          + "' (tokens present: " + seen + "); check hsm.tokenLabel, or create the token"
          + " (SoftHSM2: kms token init with an SO PIN)"));
      return steps;
    }
    steps.add(new Step("token found by label", true, "'" + tokenLabel + "'"));
    try {
      long[] offered = token.getMechanismList();
      List<String> missing = new ArrayList<>();
      for (long m : Pkcs11Hsm.REQUIRED_MECHANISMS) {
        if (Arrays.stream(offered).noneMatch(o -> o == m)) {
          missing.add(ckmCodeToName(m));
        }
      }
      if (!missing.isEmpty()) {
        steps.add(new Step("token offers the required mechanisms", false, "missing " + missing
            + " (the KMS needs " + requiredMechanisms() + "; docs/architecture.md)"));
        return steps;
      }
      steps.add(new Step("token offers the required mechanisms", true,
          String.join(", ", requiredMechanisms())));
    } catch (RuntimeException e) {
      steps.add(new Step("token offers the required mechanisms", false, e.toString()));
      return steps;
    }
    Session s = null;
    try {
      s = token.openSession(false);
      try {
        s.login(CKU_USER, userPin);
      } catch (PKCS11Exception e) {
        if (e.getErrorCode() != CKR_USER_ALREADY_LOGGED_IN) {
          throw e;
        }
      }
      steps.add(new Step("user login", true, "C_Login as CKU_USER"));
    } catch (TokenException e) {
      steps.add(new Step("user login", false, e.getMessage() + "; check the PIN (KMS_HSM_PIN"
          + " or hsm.pinFile) and that the token's user PIN is initialised and not locked"));
    } finally {
      if (s != null) {
        try {
          s.closeSession();
        } catch (TokenException ignored) {
          // the probe's session only
        }
      }
    }
    return steps;
  }
}
