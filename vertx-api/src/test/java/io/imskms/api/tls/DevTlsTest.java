package io.imskms.api.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DevTlsTest {
  private static final String VM_BOB = "sip:vm.bob@ims.example.com";

  @TempDir
  Path dir;

  @Test
  void firstStart_createsCaServerAndClientCertificates_keysOwnerOnly() throws Exception {
    DevTls t = DevTls.ensure(dir, List.of(VM_BOB));
    for (Path key : List.of(t.caKey(), t.serverKey(), t.clientKey(VM_BOB))) {
      assertEquals("rw-------",
          PosixFilePermissions.toString(Files.getPosixFilePermissions(key)), key.toString());
    }
    X509Certificate ca = DevTls.readCert(t.caCert());
    X509Certificate server = DevTls.readCert(t.serverCert());
    X509Certificate client = DevTls.readCert(t.clientCert(VM_BOB));
    server.verify(ca.getPublicKey());
    client.verify(ca.getPublicKey());
    assertEquals("EC", server.getPublicKey().getAlgorithm());
    assertTrue(server.getSubjectAlternativeNames().stream()
        .anyMatch(s -> "localhost".equals(s.get(1))));
    assertTrue(server.getSubjectAlternativeNames().stream()
        .anyMatch(s -> "127.0.0.1".equals(s.get(1))));
    assertEquals(List.of(VM_BOB), ClientIdentity.sanUris(client));
    assertTrue(ClientIdentity.names(client, VM_BOB));
    assertTrue(!ClientIdentity.names(client, "sip:vm.carol@ims.example.com"));
  }

  @Test
  void secondStart_reusesMaterial_andIssuesOnlyMissingClients() throws Exception {
    DevTls first = DevTls.ensure(dir, List.of(VM_BOB));
    String ca = Files.readString(first.caCert());
    String server = Files.readString(first.serverCert());
    String bob = Files.readString(first.clientCert(VM_BOB));
    DevTls second = DevTls.ensure(dir, List.of(VM_BOB, "sip:vm.carol@ims.example.com"));
    assertEquals(ca, Files.readString(second.caCert()));
    assertEquals(server, Files.readString(second.serverCert()));
    assertEquals(bob, Files.readString(second.clientCert(VM_BOB)));
    DevTls.readCert(second.clientCert("sip:vm.carol@ims.example.com"))
        .verify(DevTls.readCert(second.caCert()).getPublicKey());
  }
}
