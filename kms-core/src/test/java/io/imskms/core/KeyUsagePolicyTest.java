package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.MailboxClient;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.protocol.Role;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Every per-request key gets the least usage it needs (docs/architecture.md, key hierarchy): no
 * KEK both wraps and unwraps, and K and Ke2m, which the KMS only wraps for the clients, can
 * compute nothing that leaves the HSM.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KeyUsagePolicyTest {
  private KmsFixture f;
  private CountingHsm recording;
  private DeferredDeliveryService kms;

  /** A real SoftHSM2 token; {@link KeyUsagePolicyOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
    recording = new CountingHsm(f.hsm);
    kms = new DeferredDeliveryService(recording, f.keys, new KmsBootstrapper(f.keys, f.replay,
        f.directory, f.clock, DeferredDeliveryOptions.DEFAULTS.btidLifetime(),
        ServerRandom.HSM), f.directory, f.replay, f.clock, DeferredDeliveryOptions.DEFAULTS);
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  @Test
  void fullFlowWithKe2m_everyKeyHasItsMinimumUsage() throws Exception {
    ClientSession sa = f.bootstrap(f.enrol(Role.UE, ALICE));
    ClientSession sb = f.bootstrap(f.enrol(Role.UE, BOB));
    ClientSession sm = f.bootstrap(f.enrol(Role.MAILBOX, VM_BOB));
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), true);
    recording.reset();
    MailboxClient.Grant g = f.mailbox.openResponse(r, kms.mailboxKeyRequest(r.requestBytes()));
    List<KeySpec> fig17 = new ArrayList<>(recording.specs);
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
    recording.reset();
    f.ue.openRetrieval(pr, kms.retrieveMediaKey(pr.requestBytes()));
    List<KeySpec> fig18 = new ArrayList<>(recording.specs);

    List<String> violations = new ArrayList<>();
    for (KeySpec s : concat(fig17, fig18)) {
      if (s.allows(KeyUsage.WRAP) && s.allows(KeyUsage.UNWRAP)) {
        violations.add(s + " both wraps and unwraps");
      }
      if (s.extractable() && !s.allows(KeyUsage.DERIVE)
          && !s.usages().equals(EnumSet.of(KeyUsage.VERIFY))) {
        violations.add(s + ": a key that is only wrapped for a client (K, Ke2m) may only verify");
      }
    }
    assertEquals(List.of(), violations);
    // K and Ke2m at Figure 17, K again at Figure 18; the ticket KEK wraps at 17, unwraps at 18.
    KeySpec clientKey = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.VERIFY).wrappable();
    assertEquals(2, fig17.stream().filter(clientKey::equals).count(), fig17.toString());
    assertEquals(1, fig18.stream().filter(clientKey::equals).count(), fig18.toString());
    assertTrue(fig18.contains(KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.UNWRAP)),
        fig18.toString());
    assertTrue(fig18.stream().noneMatch(s -> s.allows(KeyUsage.WRAP) && s.usages().size() > 1));
  }

  private static List<KeySpec> concat(List<KeySpec> a, List<KeySpec> b) {
    List<KeySpec> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }
}
