package io.imskms.client;

/**
 * The token that must be passed to read secret bytes out of a {@link SecretBytes}. Grep for it to
 * find every place a key leaves its wrapper.
 */
public final class InsecureSecretAccess {
  private static final InsecureSecretAccess INSTANCE = new InsecureSecretAccess();

  private InsecureSecretAccess() {}

  public static InsecureSecretAccess get() {
    return INSTANCE;
  }
}
