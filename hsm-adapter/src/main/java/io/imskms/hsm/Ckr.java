package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import org.xipki.pkcs11.wrapper.PKCS11Constants;
import org.xipki.pkcs11.wrapper.PKCS11Exception;

/**
 * Translates PKCS#11 return values into the adapter's error kinds, once, at the adapter boundary.
 * The raw CKR_* value stays inside the exception for logs.
 */
final class Ckr {
  private Ckr() {}

  /** Which operation failed: the same CKR can mean different things in different calls. */
  enum Op {
    DERIVE,
    WRAP,
    UNWRAP,
    ENCRYPT,
    DECRYPT,
    SIGN,
    VERIFY,
    RANDOM,
    DESTROY,
    FIND,
    GENERATE,
    LOGIN,
    SESSION
  }

  static String name(long ckr) {
    String n = null;
    try {
      n = PKCS11Constants.codeToName(PKCS11Constants.Category.CKR, ckr);
    } catch (RuntimeException ignored) {
      // fall through to the hex form
    }
    return n != null ? n : String.format("CKR_0x%08X", ckr);
  }

  /** True when the failure means the session, the login or the token is gone. */
  static boolean meansTokenLost(long ckr) {
    return ckr == CKR_SESSION_HANDLE_INVALID
        || ckr == CKR_SESSION_CLOSED
        || ckr == CKR_DEVICE_REMOVED
        || ckr == CKR_DEVICE_ERROR
        || ckr == CKR_TOKEN_NOT_PRESENT
        || ckr == CKR_TOKEN_NOT_RECOGNIZED
        || ckr == CKR_CRYPTOKI_NOT_INITIALIZED
        || ckr == CKR_USER_NOT_LOGGED_IN
        // SoftHSM2 never reports the token as removed: a long-term key that vanishes under a
        // running process shows up as an invalid handle (see softhsm2-facts.md).
        || ckr == CKR_OBJECT_HANDLE_INVALID
        || ckr == CKR_KEY_HANDLE_INVALID;
  }

  static HsmException translate(Op op, String what, PKCS11Exception e) {
    long ckr = e.getErrorCode();
    String msg = op.name().toLowerCase() + " " + what;
    if (meansTokenLost(ckr)) {
      return new HsmUnavailableException(msg + ": HSM unavailable", ckr, e);
    }
    if (ckr == CKR_DEVICE_MEMORY || ckr == CKR_HOST_MEMORY || ckr == CKR_SESSION_COUNT) {
      return new HsmUnavailableException(msg + ": HSM out of resources", ckr, e);
    }
    if (ckr == CKR_SIGNATURE_INVALID
        || ckr == CKR_SIGNATURE_LEN_RANGE
        || ckr == CKR_ENCRYPTED_DATA_INVALID
        || ckr == CKR_ENCRYPTED_DATA_LEN_RANGE
        || ckr == CKR_WRAPPED_KEY_INVALID
        || ckr == CKR_WRAPPED_KEY_LEN_RANGE
        || ckr == CKR_AEAD_DECRYPT_FAILED
        // SoftHSM2 reports a tampered wrapped key (and some bad GCM tags) as CKR_GENERAL_ERROR.
        || (ckr == CKR_GENERAL_ERROR && (op == Op.UNWRAP || op == Op.DECRYPT))) {
      return new HsmIntegrityException(msg + ": integrity check failed", ckr, e);
    }
    if (ckr == CKR_PIN_INCORRECT || ckr == CKR_PIN_LOCKED || ckr == CKR_PIN_EXPIRED
        || ckr == CKR_PIN_LEN_RANGE || ckr == CKR_USER_PIN_NOT_INITIALIZED) {
      return new HsmMisconfigurationException(msg + ": token refused the user PIN", ckr, e);
    }
    if (ckr == CKR_MECHANISM_INVALID
        || ckr == CKR_MECHANISM_PARAM_INVALID
        || ckr == CKR_KEY_TYPE_INCONSISTENT
        || ckr == CKR_KEY_FUNCTION_NOT_PERMITTED
        || ckr == CKR_KEY_NOT_WRAPPABLE
        || ckr == CKR_KEY_UNEXTRACTABLE
        || ckr == CKR_KEY_SIZE_RANGE
        || ckr == CKR_DATA_LEN_RANGE
        || ckr == CKR_DATA_INVALID
        || ckr == CKR_ARGUMENTS_BAD
        || ckr == CKR_ATTRIBUTE_VALUE_INVALID
        || ckr == CKR_ATTRIBUTE_TYPE_INVALID
        || ckr == CKR_TEMPLATE_INCONSISTENT
        || ckr == CKR_TEMPLATE_INCOMPLETE
        || ckr == CKR_WRAPPING_KEY_TYPE_INCONSISTENT
        || ckr == CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT) {
      return new HsmPolicyException(msg + ": refused by the token", ckr, e);
    }
    // Anything else is the HSM's fault, not the caller's: answer "unavailable", keep the code.
    return new HsmUnavailableException(msg + ": HSM error", ckr, e);
  }
}
