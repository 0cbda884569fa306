package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Private token data objects (the shared key-lifecycle state lives in one): written by one
 * process, seen by another on the same token directory, replaced without ever leaving zero
 * objects, private, and read by another process (OpenSC's pkcs11-tool).
 */
class DataObjectTest {
  private static SoftHsmTestToken token;
  private static Pkcs11Hsm hsm;

  @BeforeAll
  static void open() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
  }

  @AfterAll
  static void close() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void read_ofAnAbsentLabel_isEmpty() throws Exception {
    assertTrue(hsm.readDataObjects("kms-test-absent").isEmpty());
  }

  @Test
  void replace_thenRead_givesExactlyTheLastValue() throws Exception {
    hsm.replaceDataObject("kms-test-state", b("one"));
    hsm.replaceDataObject("kms-test-state", b("two"));
    hsm.replaceDataObject("kms-test-state", b("three"));
    List<byte[]> values = hsm.readDataObjects("kms-test-state");
    assertEquals(1, values.size());
    assertArrayEquals(b("three"), values.get(0));
  }

  @Test
  void labels_areIndependent() throws Exception {
    hsm.replaceDataObject("kms-test-a", b("a"));
    hsm.replaceDataObject("kms-test-b", b("b"));
    assertArrayEquals(b("a"), hsm.readDataObjects("kms-test-a").get(0));
    assertArrayEquals(b("b"), hsm.readDataObjects("kms-test-b").get(0));
  }

  @Test
  void anotherProcess_seesOneObject_private() throws Exception {
    hsm.replaceDataObject("kms-test-shared", b("v1"));
    hsm.replaceDataObject("kms-test-shared", b("v2"));
    String out = pkcs11Tool("--list-objects", "--type", "data");
    String label = "label:          'kms-test-shared'";
    int at = out.indexOf(label);
    assertTrue(at >= 0, out);
    assertEquals(at, out.lastIndexOf(label), "old value left: " + out);
    int next = out.indexOf("Data object", at);
    String obj = out.substring(at, next < 0 ? out.length() : next);
    assertTrue(obj.contains("private"), obj);
    String value = pkcs11Tool("--read-object", "--type", "data", "--label", "kms-test-shared");
    assertTrue(value.contains("v2"), value);
  }

  private static String pkcs11Tool(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("pkcs11-tool", "--module",
        token.module().toString(), "--token-label", token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN"));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", token.userPinForTest());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  @Test
  void replace_refusesEmptyOversizeAndBadLabels() {
    assertThrows(HsmPolicyException.class, () -> hsm.replaceDataObject("kms-test-x", new byte[0]));
    assertThrows(HsmPolicyException.class,
        () -> hsm.replaceDataObject("kms-test-x", new byte[64 * 1024 + 1]));
    assertThrows(HsmPolicyException.class, () -> hsm.replaceDataObject("Bad Label", b("x")));
    assertThrows(HsmPolicyException.class, () -> hsm.readDataObjects("../x"));
  }

  @Test
  void replaceMany_storesEverySetAndLeavesOnlyTheNewOne() throws Exception {
    hsm.replaceDataObjects("kms-test-many", List.of(b("a0"), b("a1"), b("a2")));
    List<String> first = new ArrayList<>();
    for (byte[] v : hsm.readDataObjects("kms-test-many")) {
      first.add(new String(v, StandardCharsets.UTF_8));
    }
    first.sort(null);
    assertEquals(List.of("a0", "a1", "a2"), first);
    hsm.replaceDataObjects("kms-test-many", List.of(b("b0"), b("b1")));
    List<String> second = new ArrayList<>();
    for (byte[] v : hsm.readDataObjects("kms-test-many")) {
      second.add(new String(v, StandardCharsets.UTF_8));
    }
    second.sort(null);
    assertEquals(List.of("b0", "b1"), second);
  }

  @Test
  void replaceMany_refusesEmptyTooManyAndOversizeWithoutChangingAnything() throws Exception {
    hsm.replaceDataObjects("kms-test-many-x", List.of(b("kept")));
    assertThrows(HsmPolicyException.class,
        () -> hsm.replaceDataObjects("kms-test-many-x", List.of()));
    List<byte[]> tooMany = new ArrayList<>();
    for (int i = 0; i < 1025; i++) {
      tooMany.add(b("x"));
    }
    assertThrows(HsmPolicyException.class,
        () -> hsm.replaceDataObjects("kms-test-many-x", tooMany));
    assertThrows(HsmPolicyException.class, () -> hsm.replaceDataObjects("kms-test-many-x",
        List.of(b("ok"), new byte[64 * 1024 + 1])));
    List<byte[]> left = hsm.readDataObjects("kms-test-many-x");
    assertEquals(1, left.size());
    assertArrayEquals(b("kept"), left.get(0));
  }
}
