package io.imskms.core;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.replay.ReplayCache;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.InsecureSoftwareHsm;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.Role;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A KMS on a real SoftHSM2 token (one per test JVM) with its long-term keys, a mailbox directory,
 * a replay cache, and client SDK peers enrolled through the real ECDH enrolment. Or, for fast
 * unit tests of protocol logic only ({@link #onSoftwareHsm()}), the same on
 * {@link InsecureSoftwareHsm}, any number per JVM.
 */
final class KmsFixture implements AutoCloseable {
  static final String ALICE = "sip:alice@ims.example.com";
  static final String BOB = "sip:bob@ims.example.com";
  static final String CAROL = "sip:carol@ims.example.com";
  static final String VM_BOB = "sip:vm.bob@ims.example.com";
  static final String VM_CAROL = "sip:vm.carol@ims.example.com";
  static final Duration WINDOW = Duration.ofMinutes(5);
  static final long START = 1_800_000_000_000L;

  /** The real token; null on the software HSM. */
  final SoftHsmTestToken token;
  final Hsm hsm;
  private final Path directoryFile;
  final MutableClock clock = new MutableClock(START);
  KeyRing ring;
  final MailboxDirectory directory;
  LongTermKeys keys;
  ReplayCache replay;
  DeferredDeliveryService kms;
  EcdhEnrolment enrolment;
  final Bootstrapping bootstrapping = new Bootstrapping(clock, RandomSource.secure());
  final UeClient ue = new UeClient(clock, RandomSource.secure());
  final MailboxClient mailbox = new MailboxClient(clock, RandomSource.secure());

  /** On this JVM's real SoftHSM2 token. */
  KmsFixture() throws Exception {
    this(false);
  }

  /** On {@link InsecureSoftwareHsm}: for unit tests of protocol logic, never as the proof. */
  static KmsFixture onSoftwareHsm() throws Exception {
    return new KmsFixture(true);
  }

  private KmsFixture(boolean software) throws Exception {
    token = software ? null : SoftHsmTestToken.create();
    hsm = software ? new InsecureSoftwareHsm() : token.open();
    ring = KeyRing.ensureProvisioned(hsm);
    Path dir = software ? Files.createTempFile("kms-fixture-directory-", ".json")
        : token.tokenDir().getParent().resolve("directory-" + System.nanoTime() + ".json");
    directoryFile = dir;
    Files.writeString(dir, "{\"version\":1,\"mailboxes\":{"
        + "\"" + VM_BOB + "\":{\"users\":[\"" + BOB + "\"]},"
        + "\"" + VM_CAROL + "\":{\"users\":[\"" + CAROL + "\"]}}}", StandardCharsets.UTF_8);
    directory = MailboxDirectory.load(dir);
    rebuild(DeferredDeliveryOptions.DEFAULTS);
  }

  /** A new KMS instance over the same token: fresh replay cache, nothing carried over. */
  void rebuild(DeferredDeliveryOptions options) {
    keys = LongTermKeys.of(ring);
    replay = new ReplayCache(WINDOW, 200_000, clock);
    kms = new DeferredDeliveryService(hsm, keys, new KmsBootstrapper(keys, replay, directory,
        clock, options.btidLifetime(), ServerRandom.HSM), directory, replay, clock, options);
    enrolment = new EcdhEnrolment(hsm, keys, directory);
  }

  Credential enrol(Role role, String id) throws Exception {
    DeviceEnrolment device = new DeviceEnrolment(role, id);
    return device.open(enrolment.enrol(device.requestBytes()));
  }

  ClientSession bootstrap(Credential c) throws Exception {
    Bootstrapping.Pending p = bootstrapping.start(c);
    return bootstrapping.finish(p, kms.bootstrap(p.requestBytes()));
  }

  /**
   * Session objects in the token other than the adapter's shared keys (Ks by B-TID, bounded by
   * hsm.sharedKeys): what a request left behind. 0 unless something leaks.
   */
  long leftoverSessionObjects() throws HsmException {
    return leftoverSessionObjects(hsm);
  }

  static long leftoverSessionObjects(Hsm hsm) throws HsmException {
    return hsm.countSessionObjects() - hsm.status().sharedKeys();
  }

  @Override
  public void close() {
    hsm.close();
    if (token != null) {
      token.close();
    } else {
      directoryFile.toFile().delete();
    }
  }

  boolean onSoftware() {
    return token == null;
  }
}
