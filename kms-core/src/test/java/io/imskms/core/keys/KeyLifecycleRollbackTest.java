package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.SoftHsmTestToken;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The key lifecycle record written back to an older copy (as if the token files were restored
 * from a backup) behind a running reader: the reader refuses the lower sequence and keeps its
 * last good state (the principal record's equivalent is {@code PrincipalRevocationTest}).
 */
class KeyLifecycleRollbackTest {
  private static SoftHsmTestToken token;
  private static Hsm hsm;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
    KeyRing.ensureProvisioned(hsm);
  }

  @AfterAll
  static void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  @Test
  void aRecordRestoredToAnOlderSequence_isRefusedByARunningReader_andTheLastGoodStateStays()
      throws Exception {
    KeyRing operator = KeyRing.load(hsm);
    KeyRing node = KeyRing.load(hsm);
    operator.rotate(KeyPurpose.BTID_MAC, Duration.ZERO);
    node.refresh();
    List<byte[]> older = hsm.readDataObjects(KeyLifecycleStore.OBJECT_LABEL);
    assertTrue(!older.isEmpty(), "the rotation wrote a lifecycle record");

    KeyVersionInfo next = operator.rotate(KeyPurpose.TICKET_ROOT, Duration.ZERO);
    assertEquals(KeyState.ACTIVE, next.state());
    node.refresh();
    assertEquals(next.version(), node.activeVersion(KeyPurpose.TICKET_ROOT));
    List<KeyVersionInfo> before = node.describe();

    hsm.replaceDataObjects(KeyLifecycleStore.OBJECT_LABEL, older);
    HsmIntegrityException back = assertThrows(HsmIntegrityException.class, node::refresh);
    assertTrue(back.getMessage().contains("went back"), back.getMessage());
    assertEquals(before, node.describe(), "the last good state stays in force");
    assertEquals(next.version(), node.activeVersion(KeyPurpose.TICKET_ROOT));
    // Polled again, still refused: the older record is not accepted on the second look.
    assertThrows(HsmIntegrityException.class, node::refresh);
  }
}
