package io.imskms.client;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The client SDK runs on devices: no PKCS#11 wrapper and no HSM adapter on its class path. */
class ClassPathTest {
  @Test
  void noPkcs11NorHsmAdapterOnTheClassPath() {
    assertThrows(ClassNotFoundException.class,
        () -> Class.forName("org.xipki.pkcs11.wrapper.PKCS11Module"));
    assertThrows(ClassNotFoundException.class, () -> Class.forName("io.imskms.hsm.Hsm"));
  }
}
