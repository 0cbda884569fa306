package io.imskms.api.config;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
  @TempDir
  Path dir;

  @Test
  void defaults_areTls13OnlyAndDevOff() throws Exception {
    ApiConfig c = ConfigLoader.load(null, Map.of());
    assertEquals(List.of("TLSv1.3"), c.tls().protocols());
    assertEquals(8443, c.http().port());
    assertEquals(16384, c.http().bodyLimitBytes());
    assertFalse(c.dev().enabled());
    assertEquals(c.hsm().poolSize(), c.workerPoolSize());
  }

  @Test
  void defaults_recycleSoftHsmModuleSoItsLeakStaysBounded() throws Exception {
    ApiConfig c = ConfigLoader.load(null, Map.of());
    assertTrue(c.hsm().module().contains("softhsm"), c.hsm().module());
    assertEquals(200_000, c.hsm().recycleAfterObjects());
    assertEquals(0, ConfigLoader.load(null, Map.of("KMS_HSM_RECYCLE_AFTER_OBJECTS", "0"))
        .hsm().recycleAfterObjects());
  }

  @Test
  void yamlFile_thenEnvironment_override() throws Exception {
    Path f = dir.resolve("kms.yaml");
    Files.writeString(f, "http:\n  port: 9443\nhsm:\n  tokenLabel: from-file\n  poolSize: 8\n"
        + "tls:\n  protocols: [TLSv1.3, TLSv1.2]\n");
    ApiConfig c = ConfigLoader.load(f, Map.of("KMS_HSM_TOKEN_LABEL", "from-env",
        "KMS_WORKER_QUEUE_LIMIT", "7", "KMS_DEV_MAILBOXES", "sip:a@x.org, sip:b@x.org",
        "KMS_HSM_DERIVE_TEMPLATE_SUPPORTED", "true"));
    assertEquals(9443, c.http().port());
    assertEquals("from-env", c.hsm().tokenLabel());
    assertEquals(8, c.workerPoolSize());
    assertEquals(7, c.worker().queueLimit());
    assertEquals(List.of("TLSv1.3", "TLSv1.2"), c.tls().protocols());
    assertEquals(List.of("sip:a@x.org", "sip:b@x.org"), c.dev().mailboxes());
    assertTrue(c.hsm().deriveTemplateSupported());
  }

  @Test
  void shippedDevConfig_loads() throws Exception {
    ApiConfig c = ConfigLoader.load(Path.of("..", "config", "kms.yaml"), Map.of());
    assertTrue(c.dev().enabled());
    assertEquals("127.0.0.1", c.http().host());
  }

  @Test
  void unknownKey_isRefusedByName() throws Exception {
    Path f = dir.resolve("kms.yaml");
    Files.writeString(f, "http:\n  prot: 9443\n");
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f, Map.of()));
    assertTrue(e.getMessage().contains("http.prot"), e.getMessage());
  }

  @Test
  void pinInConfigFile_isRefused_withoutEchoingIt() throws Exception {
    Path f = dir.resolve("kms.yaml");
    Files.writeString(f, "hsm:\n  pin: \"s3cret-1234\"\n");
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f, Map.of()));
    assertTrue(e.getMessage().contains("hsm.pin"));
    assertFalse(e.getMessage().contains("s3cret"));
  }

  @Test
  void wrongType_isRefused() throws Exception {
    assertThrows(ConfigException.class,
        () -> ConfigLoader.load(null, Map.of("KMS_HTTP_PORT", "eighty")));
  }

  @Test
  void environmentVariables_coverEveryKey() {
    Map<String, String> vars = ConfigLoader.environmentVariables();
    assertEquals("http.port", vars.get("KMS_HTTP_PORT"));
    assertEquals("hsm.module", vars.get("KMS_HSM_MODULE"));
    assertEquals("hsm.tokenLabel", vars.get("KMS_HSM_TOKEN_LABEL"));
    assertEquals("hsm.pinFile", vars.get("KMS_HSM_PIN_FILE"));
    assertEquals("tls.keyStore.pkcs11Config", vars.get("KMS_TLS_KEY_STORE_PKCS11_CONFIG"));
  }

  @Test
  void pin_fromEnvironmentFirst_thenFromOwnerOnlyFile() throws Exception {
    Path pinFile = dir.resolve("user.pin");
    Files.writeString(pinFile, "1234-file\n");
    Files.setPosixFilePermissions(pinFile, PosixFilePermissions.fromString("rw-------"));
    ApiConfig c = ConfigLoader.load(null, Map.of("KMS_HSM_PIN_FILE", pinFile.toString()));
    assertArrayEquals("1234-file".toCharArray(), PinSource.read(c.hsm(), Map.of()));
    assertArrayEquals("9999-env".toCharArray(),
        PinSource.read(c.hsm(), Map.of("KMS_HSM_PIN", "9999-env")));
    Files.setPosixFilePermissions(pinFile, PosixFilePermissions.fromString("rw-r--r--"));
    ConfigException e = assertThrows(ConfigException.class,
        () -> PinSource.read(c.hsm(), Map.of()));
    assertFalse(e.getMessage().contains("1234"));
  }
}
