package io.imskms.client;

import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Objects;

/**
 * Key material held in JVM memory on the client side. Immutable: bytes are copied in and out; no
 * {@code toString} of the value; equality is constant-time over the contents. Reading the bytes
 * needs {@link InsecureSecretAccess}.
 */
public final class SecretBytes {
  private final byte[] value;

  private SecretBytes(byte[] value) {
    this.value = value;
  }

  public static SecretBytes copyOf(byte[] value, InsecureSecretAccess access) {
    Objects.requireNonNull(access, "access");
    return new SecretBytes(value.clone());
  }

  /** Takes ownership of an array nobody else holds (internal use). */
  static SecretBytes adopt(byte[] value) {
    return new SecretBytes(value);
  }

  public byte[] toByteArray(InsecureSecretAccess access) {
    Objects.requireNonNull(access, "access");
    return value.clone();
  }

  byte[] internal() {
    return value;
  }

  public int length() {
    return value.length;
  }

  /** Constant-time comparison of the contents. */
  public boolean equalContents(SecretBytes other) {
    return other != null && MessageDigest.isEqual(value, other.value);
  }

  /** Overwrites the value; the object is unusable afterwards. */
  public void destroy() {
    Arrays.fill(value, (byte) 0);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SecretBytes && equalContents((SecretBytes) o);
  }

  @Override
  public int hashCode() {
    return value.length;
  }

  @Override
  public String toString() {
    return "SecretBytes[" + value.length + " bytes]";
  }
}
