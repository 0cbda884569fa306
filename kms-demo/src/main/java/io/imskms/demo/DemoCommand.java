package io.imskms.demo;

import io.imskms.cli.CliContext;
import io.imskms.cli.CliException;
import io.imskms.cli.ExitCodes;
import io.imskms.files.OwnerOnlyFiles;
import io.imskms.client.Bootstrapping;
import io.imskms.client.CleartextCredentialFile;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MediaProtection;
import io.imskms.client.RandomSource;
import io.imskms.client.RetryPolicy;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.client.UploadProtection;
import io.imskms.mailbox.KmsHttpClient;
import io.imskms.mailbox.KmsProblemException;
import io.imskms.mailbox.MailboxStore;
import io.imskms.mailbox.ReferenceMailbox;
import io.imskms.mailbox.ReferenceMailboxClient;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Role;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code kms demo}: the seed end to end against a running KMS over HTTPS, with UE-A, the
 * reference mailbox and UE-B as separate clients (each its own Vert.x instance, credential and
 * connections; the mailbox an HTTPS service on its own port storing under {@code var/mailbox/}).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    subcommands = DevEnrollCommand.class,
    description = {
            "Run deferred delivery end to end against the RUNNING KMS (bin/kms up): UE-A " +
            "bootstraps, makes its offer and leaves a voice message (a generated WAV, a " +
            "sine tone) in UE-B's mailbox: the reference mailbox (an HTTPS service started " +
            "here, storing under --mailbox-dir) asks the KMS for the ticket and Ke2m over " +
            "mutual TLS, UE-A gets K, encrypts the media and uploads it protected with Ke2m " +
            "(Fig 19). Then UE-B comes online, fetches offer and ticket, gets K from the " +
            "KMS, downloads and decrypts the media and compares it byte for byte with the " +
            "original. Each seed step is printed with its time; one attack (the mailbox " +
            "asking the KMS for K) must be refused with 403 NOT_AUTHORISED. Exit 1 on any " +
            "mismatch or unexpected answer; 2 if the KMS is not running or the demo " +
            "credentials (var/demo/, made by bin/kms up) or TLS files (var/tls/) are " +
            "missing.",
            "The demo tools run with the client SDK and the reference mailbox on their class " +
            "path (lib/demo/ of the distribution), which the server's never has."})
final class DemoCommand implements Callable<Integer> {
  static final String ALICE = "sip:alice@ims.example.com";
  static final String BOB = "sip:bob@ims.example.com";
  static final String VM_BOB = "sip:vm.bob@ims.example.com";
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final CliContext ctx;

  @Spec
  CommandSpec spec;

  @Option(names = "--server", paramLabel = "URL[,URL...]",
      defaultValue = "https://localhost:8443",
      description = "the KMS, or several nodes of a cluster tried in turn (comma-separated), or"
          + " its load balancer (default: ${DEFAULT-VALUE})")
  String server;

  @Option(names = "--tls-dir", paramLabel = "DIR", defaultValue = "var/tls",
      description = "the dev TLS material: ca.pem and the mailbox's client certificate under"
          + " clients/ (default: ${DEFAULT-VALUE})")
  Path tlsDir;

  @Option(names = "--credentials", paramLabel = "DIR", defaultValue = "var/demo",
      description = "the demo principals' credential files, <identity>.cred (default:"
          + " ${DEFAULT-VALUE})")
  Path credentials;

  @Option(names = "--mailbox-dir", paramLabel = "DIR", defaultValue = "var/mailbox",
      description = "where the reference mailbox stores messages (default: ${DEFAULT-VALUE})")
  Path mailboxDir;

  @Option(names = "--media-out", paramLabel = "DIR", defaultValue = "var/demo/media",
      description = "where the sent and the received WAV are written (default: ${DEFAULT-VALUE})")
  Path mediaOut;

  @Option(names = "--ue-a", paramLabel = "ID", defaultValue = ALICE,
      description = "the sender (default: ${DEFAULT-VALUE})")
  String ueA;

  @Option(names = "--ue-b", paramLabel = "ID", defaultValue = BOB,
      description = "the recipient (default: ${DEFAULT-VALUE})")
  String ueB;

  @Option(names = "--mailbox", paramLabel = "ID", defaultValue = VM_BOB,
      description = "the recipient's mailbox (default: ${DEFAULT-VALUE})")
  String mailbox;

  @Option(names = "--seconds", paramLabel = "S", defaultValue = "3",
      description = "length of the generated WAV, 0.1..60 (default: ${DEFAULT-VALUE})")
  double seconds;

  private long startNanos;

  DemoCommand(CliContext ctx) {
    this.ctx = ctx;
  }

  /** A demo principal's credential file in {@code dir}: the identity made file-name safe. */
  static Path credentialFile(Path dir, String identity) {
    return dir.resolve(safeName(identity) + ".cred");
  }

  /** As the dev TLS material names client certificates (DevTls). */
  static String safeName(String identity) {
    return identity.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.+-]", "_");
  }

  @Override
  public Integer call() throws Exception {
    if (!(seconds >= 0.1 && seconds <= 60)) {
      throw new ParameterException(spec.commandLine(), "--seconds must be between 0.1 and 60");
    }
    List<URI> servers;
    try {
      servers = KmsHttpClient.parseServers(server);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), "--server: " + e.getMessage());
    }
    Path ca = need(tlsDir.resolve("ca.pem"), "the dev CA certificate (bin/kms up creates it)");
    Path mbCert = need(tlsDir.resolve("clients").resolve(safeName(mailbox) + ".pem"),
        "the mailbox's TLS client certificate (dev.mailboxes)");
    Path mbKey = need(tlsDir.resolve("clients").resolve(safeName(mailbox) + "-key.pem"),
        "the mailbox's TLS client key");
    Credential credA = credential(ueA, Role.UE);
    Credential credB = credential(ueB, Role.UE);
    Credential credM = credential(mailbox, Role.MAILBOX);

    Vertx vertxA = Vertx.vertx();
    Vertx vertxM = Vertx.vertx();
    Vertx vertxB = Vertx.vertx();
    try (KmsHttpClient kmsA = client(vertxA, servers, ca, null, null);
        KmsHttpClient kmsM = client(vertxM, servers, ca, mbCert, mbKey);
        KmsHttpClient kmsB = client(vertxB, servers, ca, null, null)) {
      try {
        if (!await(kmsA.ready())) {
          throw new CliException(ExitCodes.PREREQUISITE, "the KMS at " + server
              + " is not ready (/health/ready); is the token reachable?");
        }
      } catch (CliException e) {
        throw e;
      } catch (Exception e) {
        throw new CliException(ExitCodes.PREREQUISITE, "no KMS at " + server + " ("
            + e.getClass().getSimpleName() + "): start it with bin/kms up");
      }
      return run(credA, credB, credM, kmsA, kmsM, kmsB, vertxA, vertxM, vertxB);
    } finally {
      vertxA.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      vertxM.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      vertxB.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private int run(Credential credA, Credential credB, Credential credM, KmsHttpClient kmsA,
      KmsHttpClient kmsM, KmsHttpClient kmsB, Vertx vertxA, Vertx vertxM, Vertx vertxB)
      throws Exception {
    startNanos = System.nanoTime();
    Clock clock = Clock.systemUTC();
    ctx.out().println("Deferred delivery (TR 33.828 §7.4.3.3) against " + server);
    ctx.out().println("  UE-A " + credA.id() + "  ->  UE-B " + credB.id() + " (offline), mailbox "
        + credM.id());
    byte[] wav = SineWave.wav(seconds, 16_000, 440.0);
    ownerOnlyDirectory(mediaOut);
    Path sent = mediaOut.resolve("sent.wav");
    OwnerOnlyFiles.write(sent, wav);
    ctx.out().printf("  media: %s, %.1f s of 440 Hz sine, 16 kHz 16-bit mono WAV, %d bytes,"
        + " SHA-256 %s%n", sent, seconds, wav.length, shortHash(wav));
    ctx.out().println();

    // --- the mailbox: an HTTPS service of its own --------------------------------------------
    ReferenceMailbox mb = new ReferenceMailbox(vertxM, credM, kmsM, new MailboxStore(mailboxDir),
        (step, what, took) -> step(step, "[mailbox] " + what, took));
    int mbPort = await(mb.start("127.0.0.1", 0));
    ctx.out().println("  reference mailbox listening on https://localhost:" + mbPort
        + ", storing under " + mailboxDir);
    try (ReferenceMailboxClient mbForA = new ReferenceMailboxClient(vertxA, "localhost", mbPort,
        mb.trustOptions());
        ReferenceMailboxClient mbForB = new ReferenceMailboxClient(vertxB, "localhost", mbPort,
            mb.trustOptions())) {
      ctx.out().println();
      ctx.out().println("Figure 17 + 19: UE-A leaves a message while UE-B is offline");

      // --- UE-A ------------------------------------------------------------------------------
      UeClient ueSdkA = new UeClient(clock, RandomSource.secure());
      ClientSession sa = bootstrap(credA, kmsA, clock, "Fig 17 step 1a", "UE-A");
      long t = System.nanoTime();
      UeClient.OutgoingOffer offer = ueSdkA.offer(sa, credB.id());
      step("Fig 17 steps 2a/2b", "UE-A draws Ra and sends INVITE with ID-A, ID-B and"
          + " Ea(Ra, ID-A, ID-B) under a key from Ka (offer " + offer.offerBytes().length
          + " bytes)", since(t));
      ReferenceMailboxClient.Deposit deposit = await(mbForA.deposit(offer.offerBytes()));
      t = System.nanoTime();
      UeClient.DeliveredKeys keysA = ueSdkA.openDelivery(offer, deposit.delivery(), credM.id());
      SecretBytes ke2m = keysA.e2mKey().orElseThrow(() -> new CliException(ExitCodes.FAILURE,
          "the mailbox relayed no Ke2m"));
      step("Fig 17 step 8", "UE-A unwrapped K (bound to its Ra and nonce) and Ke2m (Fig 19)",
          since(t));

      t = System.nanoTime();
      byte[] msgId = RandomSource.secure().next(MediaProtection.MSG_ID_LEN);
      byte[] container = MediaProtection.encrypt(keysA.mediaKey(), msgId, wav, 16 * 1024);
      step("media", "UE-A encrypted the WAV under K: container of " + container.length
          + " bytes in " + (wav.length + 16 * 1024 - 1) / (16 * 1024) + " AES-GCM chunks",
          since(t));
      t = System.nanoTime();
      byte[] tag = UploadProtection.uploadTag(ke2m, credA.id(), credM.id(), container);
      byte[] ack = await(mbForA.upload(deposit.messageId(), container, tag));
      UploadProtection.verifyAck(ke2m, credA.id(), credM.id(), tag, ack);
      step("Fig 19", "UE-A uploaded the container with its Ke2m tag and verified the"
          + " mailbox's ack (mutual authentication, integrity)", since(t));

      // --- UE-B, later ----------------------------------------------------------------------
      ctx.out().println();
      ctx.out().println("Figure 18: UE-B comes online and retrieves the message");
      UeClient ueSdkB = new UeClient(clock, RandomSource.secure());
      ClientSession sb = bootstrap(credB, kmsB, clock, "Fig 18 step 1b", "UE-B");
      List<ReferenceMailboxClient.Listed> listed = await(mbForB.list(credB.id()));
      if (listed.stream().noneMatch(l -> l.messageId().equals(deposit.messageId()))) {
        throw new CliException(ExitCodes.FAILURE, "the mailbox does not list the new message");
      }
      ReferenceMailboxClient.Stored stored = await(mbForB.fetch(deposit.messageId()));
      t = System.nanoTime();
      ueSdkB.retrieval(sb, stored.offer(), stored.ticket()); // checks the offer is for UE-B
      step("Fig 18 step 4", "UE-B sends ID-A, ID-B, Ea, Ekms(Ka) and Eb(ID-A, ID-B) to the KMS",
          since(t));
      t = System.nanoTime();
      // A fresh Eb (new nonce) for every attempt, should a connection fail on the way.
      KmsHttpClient.Answered<UeClient.PendingRetrieval> answer = await(kmsB.retrieve(
          () -> ueSdkB.retrieval(sb, stored.offer(), stored.ticket())));
      step("Fig 18 step 5", "KMS unwrapped Ka from the ticket with Kkms in the HSM, checked Ea and"
          + " Eb, derived K (round trip)", since(t));
      t = System.nanoTime();
      SecretBytes kAtB = ueSdkB.openRetrieval(answer.pending(), answer.answer());
      step("Fig 18 step 6", "UE-B unwrapped Eb(K) (bound to its nonce and the ticket)",
          since(t));
      t = System.nanoTime();
      byte[] fetched = await(mbForB.media(deposit.messageId()));
      byte[] received = MediaProtection.decrypt(kAtB, fetched);
      Path got = mediaOut.resolve("received.wav");
      OwnerOnlyFiles.write(got, received);
      step("media", "UE-B downloaded " + fetched.length + " bytes and decrypted them: "
          + received.length + " bytes, SHA-256 " + shortHash(received) + " -> " + got, since(t));

      boolean sameKey = kAtB.equalContents(keysA.mediaKey());
      boolean sameMedia = Arrays.equals(wav, received);
      ctx.out().println();
      ctx.out().println("Checks");
      ctx.out().println("  K at UE-B equals K at UE-A (compared in constant time, not printed): "
          + (sameKey ? "yes" : "NO"));
      ctx.out().println("  received media equals the sent media, byte for byte: "
          + (sameMedia ? "yes (" + received.length + " bytes)" : "NO"));

      // --- one attack ----------------------------------------------------------------------
      ctx.out().println();
      ctx.out().println("Attack: the mailbox asks the KMS for K on the retrieval path");
      boolean refused = mailboxAsksForK(credM, kmsM, clock, stored);
      kAtB.destroy();
      ke2m.destroy();
      ctx.out().println();
      boolean ok = sameKey && sameMedia && refused;
      ctx.out().printf("%s in %d ms%n", ok ? "DEMO PASSED" : "DEMO FAILED",
          Duration.ofNanos(System.nanoTime() - startNanos).toMillis());
      ctx.out().flush();
      return ok ? ExitCodes.OK : ExitCodes.FAILURE;
    } finally {
      mb.close();
    }
  }

  /**
   * The dishonest mailbox: bootstraps with its own credential and sends the stored offer and
   * ticket to the retrieval endpoint under its own B-TID. The KMS must refuse at Figure 18 step 5
   * (docs/protocol.md §7.7 check 3) before it looks at Eb.
   */
  private boolean mailboxAsksForK(Credential credM, KmsHttpClient kmsM, Clock clock,
      ReferenceMailboxClient.Stored stored) throws Exception {
    Bootstrapping b = new Bootstrapping(clock, RandomSource.secure());
    KmsHttpClient.Answered<Bootstrapping.Pending> a = await(kmsM.bootstrap(() -> b.start(credM)));
    ClientSession sm = b.finish(a.pending(), a.answer());
    RetrievalRequest forged = new RetrievalRequest(sm.btidBytes(), stored.offer(),
        stored.ticket(), RandomSource.secure().next(12), RandomSource.secure().next(48));
    long t = System.nanoTime();
    try {
      await(kmsM.retrieve(forged));
    } catch (KmsProblemException e) {
      boolean expected = e.status() == 403 && "NOT_AUTHORISED".equals(e.code());
      step("attack", (expected ? "REFUSED as expected: " : "refused, but not as expected: ")
          + e.status() + " " + e.code() + " (the KMS hands K only to ID-B)", since(t));
      return expected;
    }
    step("attack", "NOT REFUSED: the KMS answered the mailbox", since(t));
    return false;
  }

  private ClientSession bootstrap(Credential cred, KmsHttpClient kms, Clock clock, String step,
      String who) throws Exception {
    long t = System.nanoTime();
    Bootstrapping b = new Bootstrapping(clock, RandomSource.secure());
    KmsHttpClient.Answered<Bootstrapping.Pending> a = await(kms.bootstrap(() -> b.start(cred)));
    ClientSession s = b.finish(a.pending(), a.answer());
    step(step, who + " " + cred.id() + " bootstrapped with the KMS (proof of Kp, mutual):"
        + " B-TID and " + (who.equals("UE-A") ? "Ka" : "Kb"), since(t));
    return s;
  }

  private synchronized void step(String step, String what, Duration took) {
    double at = (System.nanoTime() - startNanos) / 1e6;
    ctx.out().printf(Locale.ROOT, "  %8.1f ms  %-19s %s  (%.1f ms)%n", at, step, what,
        took.toNanos() / 1e6);
    ctx.out().flush();
  }

  private Path need(Path file, String what) throws CliException {
    if (!Files.isRegularFile(file)) {
      throw new CliException(ExitCodes.PREREQUISITE, "missing " + file + ": " + what
          + "; run bin/kms up first");
    }
    return file;
  }

  private Credential credential(String id, Role role) throws CliException {
    Path f = need(credentialFile(credentials, id), "the credential of " + id
        + " (bin/kms up enrols the demo principals)");
    try {
      Credential c = CleartextCredentialFile.read(f);
      if (c.role() != role) {
        throw new CliException(ExitCodes.PREREQUISITE, f + " is not a " + role + " credential");
      }
      if (!c.id().equals(id)) {
        throw new CliException(ExitCodes.PREREQUISITE, f + " is the credential of " + c.id()
            + ", not of " + id);
      }
      return c;
    } catch (IOException e) {
      throw new CliException(ExitCodes.PREREQUISITE, e.getMessage());
    }
  }

  /** The media folder: created if needed, and made owner-only (0700) either way. */
  private static void ownerOnlyDirectory(Path dir) throws IOException {
    Files.createDirectories(dir);
    try {
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    } catch (UnsupportedOperationException notPosix) {
      // Nothing to restrict on a file system without POSIX permissions.
    }
  }

  private static String shortHash(byte[] data) {
    return HexFormat.of().formatHex(Contexts.sha256(data)).substring(0, 16) + "...";
  }

  private static Duration since(long t0) {
    return Duration.ofNanos(System.nanoTime() - t0);
  }

  /** A client of the servers, retrying unanswered requests with fresh ones (docs/api.md). */
  private static KmsHttpClient client(Vertx vertx, List<URI> servers, Path ca, Path cert,
      Path key) {
    return KmsHttpClient.create(vertx, servers, ca, cert, key, RetryPolicy.DEFAULT,
        KmsHttpClient.DEFAULT_TIMEOUT_MS);
  }

  /** Waits for {@code f}; its failure is thrown as it is. */
  static <T> T await(Future<T> f) throws Exception {
    try {
      return f.toCompletionStage().toCompletableFuture().get(TIMEOUT.toSeconds(),
          TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof Exception cause) {
        throw cause;
      }
      throw e;
    } catch (TimeoutException e) {
      throw new CliException(ExitCodes.FAILURE, "no answer within " + TIMEOUT.toSeconds() + " s");
    }
  }
}
