package io.imskms.core.principals;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.records.MacedRecordStore;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The principal record beyond one data object, on a real SoftHSM2 token: 20,000 revoked
 * principals written as chunks and read back (write and poll times printed, not asserted), a
 * missing chunk and a chunk of an older write refused while a node keeps its last good state, a
 * stray old chunk next to a complete set ignored, and a record in the single-object format of
 * before chunking still read. The steps share one token and build on each other.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PrincipalRecordChunkingTest {
  private static final int PRINCIPALS = 20_000;
  private static final String LABEL = PrincipalRegistry.OBJECT_LABEL;

  private SoftHsmTestToken token;
  private Pkcs11Hsm hsm;
  private PrincipalRegistry node;

  @BeforeAll
  void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
  }

  @AfterAll
  void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  private static String id(int i) {
    return "sip:user" + i + "@ims.example.com";
  }

  private MacedRecordStore<PrincipalRecord> store() {
    return PrincipalRegistry.store(hsm, LABEL);
  }

  /** The chunks in the token, by index (the header as MacedRecordStore documents it). */
  private List<byte[]> chunks() throws Exception {
    List<byte[]> v = new ArrayList<>(hsm.readDataObjects(LABEL));
    v.sort(Comparator.comparingInt(PrincipalRecordChunkingTest::index));
    return v;
  }

  private static int index(byte[] chunk) {
    return ByteBuffer.wrap(chunk, 24, 4).getInt();
  }

  @Test
  @Order(1)
  void twentyThousandRevokedPrincipalsRoundTrip() throws Exception {
    Instant t = Instant.parse("2026-12-01T10:00:00Z");
    List<PrincipalRecord.Entry> entries = new ArrayList<>();
    for (int i = 0; i < PRINCIPALS; i++) {
      entries.add(new PrincipalRecord.Entry(id(i), i % 3, Optional.of(t),
          i % 10 == 0 ? Optional.of("device reported stolen, ticket " + i) : Optional.empty(), t));
    }
    PrincipalRecord big = new PrincipalRecord(1, entries);
    int bytes = big.encode().length;

    long w0 = System.nanoTime();
    store().write(big);
    long writeNanos = System.nanoTime() - w0;
    int count = hsm.readDataObjects(LABEL).size();
    assertTrue(count > 1, "a record of " + bytes + " bytes is more than one chunk");
    assertEquals((bytes + MacedRecordStore.CHUNK_BYTES - 1) / MacedRecordStore.CHUNK_BYTES,
        count, "chunks of at most " + MacedRecordStore.CHUNK_BYTES + " bytes");

    long l0 = System.nanoTime();
    node = PrincipalRegistry.load(hsm);
    long loadNanos = System.nanoTime() - l0;
    assertEquals(PRINCIPALS, node.revokedPrincipals().size());
    assertTrue(node.revoked(id(0)) && node.revoked(id(PRINCIPALS - 1)));
    assertEquals(2, node.generation(id(5)));
    assertEquals(Optional.of("device reported stolen, ticket 10"),
        node.record().entry(id(10)).orElseThrow().reason());

    int polls = 20;
    long p0 = System.nanoTime();
    for (int i = 0; i < polls; i++) {
      assertTrue(node.refresh().isEmpty());
    }
    long pollNanos = (System.nanoTime() - p0) / polls;

    PrincipalRegistry operator = PrincipalRegistry.load(hsm);
    long r0 = System.nanoTime();
    assertTrue(operator.revoke("sip:thief@ims.example.com", "stolen").written());
    long revokeNanos = System.nanoTime() - r0;
    long c0 = System.nanoTime();
    List<PrincipalRecord.Entry> changed = node.refresh();
    long changedPollNanos = System.nanoTime() - c0;
    assertEquals(1, changed.size());
    assertTrue(node.revoked("sip:thief@ims.example.com"));
    assertEquals(PRINCIPALS + 1, node.revokedPrincipals().size());

    System.out.printf("PrincipalRecordChunkingTest: %d principals, %d bytes, %d chunks; first "
            + "write %d ms; load (read+verify+parse) %d ms; unchanged poll %.1f ms (mean of %d);"
            + " one revoke (read+write) %d ms; poll after a change %d ms%n",
        PRINCIPALS, bytes, count, writeNanos / 1_000_000, loadNanos / 1_000_000,
        pollNanos / 1e6, polls, revokeNanos / 1_000_000, changedPollNanos / 1_000_000);
  }

  @Test
  @Order(2)
  void aMissingChunkIsRefusedAndTheNodeKeepsItsState() throws Exception {
    List<byte[]> good = chunks();
    List<byte[]> gap = new ArrayList<>(good);
    gap.remove(good.size() / 2);
    hsm.replaceDataObjects(LABEL, gap);

    assertThrows(HsmIntegrityException.class, () -> PrincipalRegistry.load(hsm));
    assertThrows(HsmIntegrityException.class, () -> node.refresh());
    assertTrue(node.revoked("sip:thief@ims.example.com"), "the last good state stays in force");
    assertEquals(PRINCIPALS + 1, node.revokedPrincipals().size());

    hsm.replaceDataObjects(LABEL, good);
    assertTrue(node.refresh().isEmpty());
    assertEquals(PRINCIPALS + 1, PrincipalRegistry.load(hsm).revokedPrincipals().size());
  }

  @Test
  @Order(3)
  void aChunkOfAnOlderWriteIsRefusedOrIgnored() throws Exception {
    List<byte[]> older = chunks();
    PrincipalRegistry operator = PrincipalRegistry.load(hsm);
    assertTrue(operator.reinstate(id(7)).written());
    assertTrue(node.refresh().size() == 1 && !node.revoked(id(7)));
    List<byte[]> newer = chunks();
    assertEquals(older.size(), newer.size());
    int mid = newer.size() / 2;

    // the older write's chunk in place of the newer's: neither set is complete
    List<byte[]> mixed = new ArrayList<>(newer);
    mixed.set(mid, older.get(mid));
    hsm.replaceDataObjects(LABEL, mixed);
    assertThrows(HsmIntegrityException.class, () -> PrincipalRegistry.load(hsm));
    assertThrows(HsmIntegrityException.class, () -> node.refresh());
    assertFalse(node.revoked(id(7)), "the last good state stays in force");

    // the older chunk relabelled as the newer write's: complete, but the MAC does not verify
    byte[] relabelled = older.get(mid).clone();
    System.arraycopy(newer.get(mid), 0, relabelled, 0, 28);
    if (!java.util.Arrays.equals(relabelled, newer.get(mid))) {
      mixed.set(mid, relabelled);
      hsm.replaceDataObjects(LABEL, mixed);
      assertThrows(HsmIntegrityException.class, () -> PrincipalRegistry.load(hsm));
      assertThrows(HsmIntegrityException.class, () -> node.refresh());
    }

    // a stray older chunk next to the complete newer set (a writer interrupted before its
    // destroy step): ignored
    List<byte[]> stray = new ArrayList<>(newer);
    stray.add(older.get(mid));
    hsm.replaceDataObjects(LABEL, stray);
    node.refresh();
    assertFalse(node.revoked(id(7)));
    assertEquals(PRINCIPALS, PrincipalRegistry.load(hsm).revokedPrincipals().size());

    // an incomplete set of a later write next to the complete one (a write in progress):
    // the complete one is read
    List<byte[]> inProgress = new ArrayList<>(newer);
    byte[] next = newer.get(0).clone();
    ByteBuffer.wrap(next, 8, 16).putLong(Long.MAX_VALUE).putLong(42);
    inProgress.add(next);
    hsm.replaceDataObjects(LABEL, inProgress);
    assertFalse(PrincipalRegistry.load(hsm).revoked(id(7)));
    hsm.replaceDataObjects(LABEL, newer);
  }

  @Test
  @Order(4)
  void theSingleObjectFormatOfBeforeChunkingIsStillRead() throws Exception {
    PrincipalRecord current = PrincipalRegistry.load(hsm).record();
    PrincipalRecord small = new PrincipalRecord(current.sequence() + 1, List.of(
        new PrincipalRecord.Entry("sip:legacy@ims.example.com", 1, Optional.empty(),
            Optional.empty(), Instant.parse("2026-11-01T00:00:00Z"))));
    byte[] doc = small.encode();
    byte[] context = PrincipalRegistry.MAC_CONTEXT.getBytes(StandardCharsets.US_ASCII);
    byte[] in = ByteBuffer.allocate(context.length + doc.length).put(context).put(doc).array();
    KeyRef mac = hsm.findKey(PrincipalRegistry.MAC_LABEL, 1);
    byte[] tag;
    try (HsmSession s = hsm.openSession()) {
      tag = s.sign(mac, in);
    }
    byte[] legacy = ByteBuffer.allocate(32 + doc.length).put(tag).put(doc).array();
    hsm.replaceDataObject(LABEL, legacy);

    PrincipalRegistry reader = PrincipalRegistry.load(hsm);
    assertEquals(1, reader.generation("sip:legacy@ims.example.com"));
    assertEquals(0, reader.revokedPrincipals().size());
    node.refresh();
    assertEquals(1, node.generation("sip:legacy@ims.example.com"));

    // a forged legacy object is refused
    byte[] forged = legacy.clone();
    forged[forged.length - 3] ^= 1;
    hsm.replaceDataObject(LABEL, forged);
    assertThrows(HsmIntegrityException.class, () -> PrincipalRegistry.load(hsm));
    hsm.replaceDataObject(LABEL, legacy);

    // the next write replaces it with the chunked format
    assertTrue(reader.revoke("sip:legacy@ims.example.com", null).written());
    List<byte[]> after = hsm.readDataObjects(LABEL);
    assertEquals(1, after.size());
    assertArrayEquals("imskmsR2".getBytes(StandardCharsets.US_ASCII),
        java.util.Arrays.copyOf(after.get(0), 8));
    assertTrue(PrincipalRegistry.load(hsm).revoked("sip:legacy@ims.example.com"));
  }
}
