package io.imskms.core.keys;

/**
 * A message names a version of a long-term key that the operator retired: the token may still
 * hold it, but the KMS refuses to use it (protocol error KEY_RETIRED). The client has to start
 * again (bootstrap anew; a deferred message whose ticket names a retired version is lost).
 */
public final class KeyRetiredException extends Exception {
  private final KeyPurpose purpose;
  private final int version;

  public KeyRetiredException(KeyPurpose purpose, int version) {
    super(purpose.id(version) + " is retired");
    this.purpose = purpose;
    this.version = version;
  }

  /** The key's purpose. */
  public KeyPurpose purpose() {
    return purpose;
  }

  /** The retired version. */
  public int version() {
    return version;
  }
}
