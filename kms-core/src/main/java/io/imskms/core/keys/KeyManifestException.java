package io.imskms.core.keys;

import java.io.IOException;

/**
 * A key manifest is malformed, or disagrees with the keys in the token (which is how a swapped or
 * restored token shows up). The message names the file, the entry and the problem.
 */
public final class KeyManifestException extends IOException {
  public KeyManifestException(String message) {
    super(message);
  }

  public KeyManifestException(String message, Throwable cause) {
    super(message, cause);
  }
}
