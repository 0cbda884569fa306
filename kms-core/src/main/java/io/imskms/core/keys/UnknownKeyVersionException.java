package io.imskms.core.keys;

/**
 * A message or configuration names a version of a long-term key that is not in the token (it
 * never existed, or it was retired). A request that carries such a version cannot be served; the
 * client has to start again (e.g. bootstrap anew for an old B-TID).
 */
public final class UnknownKeyVersionException extends Exception {
  private final KeyPurpose purpose;
  private final int version;

  public UnknownKeyVersionException(KeyPurpose purpose, int version) {
    super("no version " + version + " of " + purpose.label() + " in the token");
    this.purpose = purpose;
    this.version = version;
  }

  /** The key's purpose. */
  public KeyPurpose purpose() {
    return purpose;
  }

  /** The version that was asked for. */
  public int version() {
    return version;
  }
}
